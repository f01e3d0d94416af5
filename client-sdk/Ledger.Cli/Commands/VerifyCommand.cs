using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using Ledger.Sdk;

namespace Ledger.Cli.Commands;

/// <summary>
/// <c>ledger verify RECEIPT --consortium FILE [--digest HEX | --file PATH]</c>: offline verification
/// (SPEC §6). Exit 0 valid, 1 invalid, 2 bad arguments or unreadable input.
/// </summary>
internal static class VerifyCommand
{
    private const int CredentialFileBytesMax = int.MaxValue;

    public static Command Create()
    {
        var receipt = new Argument<string>("RECEIPT") { Description = "The receipt file (.tlog-proof)" };
        var consortium = new Option<string>("--consortium") { Description = "The consortium file to trust", Required = true };
        var digest = new Option<string?>("--digest") { Description = "The credential's SHA-256 digest (64 hex digits) the receipt must carry" };
        var file = new Option<string?>("--file") { Description = "The credential file whose SHA-256 digest the receipt must carry" };
        var command = new Command("verify", "Verify a receipt offline against the consortium file.") { receipt, consortium, digest, file };
        command.Validators.Add(result =>
        {
            if (result.GetValue(digest) is not null && result.GetValue(file) is not null)
            {
                result.AddError("give --digest or --file, not both");
            }
        });
        command.SetAction(parseResult => Run(
            parseResult.GetValue(receipt)!, parseResult.GetValue(consortium)!, parseResult.GetValue(digest), parseResult.GetValue(file)));
        return command;
    }

    private static int Run(string receiptPath, string consortiumPath, string? digestHex, string? credentialPath)
    {
        var trusted = LoadConsortium(consortiumPath);
        var expected = digestHex is not null ? CommandLineRunner.ParseDigest(digestHex)
            : credentialPath is not null ? SHA256.HashData(CommandLineRunner.ReadInput(credentialPath, "credential file", CredentialFileBytesMax))
            : null;
        var bytes = CommandLineRunner.ReadInput(receiptPath, "receipt", Receipt.LengthMax);
        var result = new ReceiptVerifier(trusted).Verify(bytes, expected);
        if (!result.IsValid)
        {
            Console.WriteLine("INVALID: " + result.Reason);
            return ExitCodes.Failed;
        }

        PrintValid(result, trusted);
        return ExitCodes.Ok;
    }

    private static Consortium LoadConsortium(string path)
    {
        var bytes = CommandLineRunner.ReadInput(path, "consortium file", Consortium.FileBytesMax);
        try
        {
            return Consortium.Parse(System.Text.Encoding.UTF8.GetString(bytes));
        }
        catch (FormatException e)
        {
            throw new CommandException(ExitCodes.Usage, $"consortium file {path} is invalid: {e.Message}");
        }
    }

    private static void PrintValid(ReceiptVerification result, Consortium consortium)
    {
        var leaf = result.Leaf!;
        var issuer = consortium.FindIssuer(leaf.Issuer);
        var issuerText = issuer is null
            ? $"{leaf.Issuer} (not listed in this consortium file)"
            : issuer.DisplayName is null ? leaf.Issuer : $"{leaf.Issuer} ({issuer.DisplayName})";
        Console.WriteLine("VALID");
        Console.WriteLine($"issuer:     {issuerText}");
        Console.WriteLine($"digest:     {leaf.DigestHex}");
        Console.WriteLine($"kind:       {(leaf.Kind == LeafKind.Anchor ? "anchor" : "revocation")}");
        Console.WriteLine($"index:      {result.Index}");
        Console.WriteLine($"tree size:  {result.Checkpoint!.Size}");
        Console.WriteLine($"timestamp:  {leaf.Timestamp.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture)}");
        Console.WriteLine($"origin:     {result.Checkpoint.Origin}");
        Console.WriteLine($"signed by:  {string.Join(", ", result.Signers)} (quorum {consortium.Quorum} of {consortium.Members.Count})");
    }
}
