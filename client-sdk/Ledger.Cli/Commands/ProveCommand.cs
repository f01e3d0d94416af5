using System.CommandLine;
using System.Security.Cryptography;
using Grpc.Core;
using Ledger.Sdk.Client;

namespace Ledger.Cli.Commands;

/// <summary>
/// <c>ledger prove (--digest HEX | --file PATH) --node URL [--out FILE] [--issuer NAME]</c>: fetches
/// the receipt of an anchored credential; prints it, or writes it to FILE. Exit 0 found,
/// 1 not anchored (or node unreachable), 2 usage.
/// </summary>
internal static class ProveCommand
{
    public static Command Create()
    {
        var digest = new Option<string?>("--digest") { Description = "The credential's SHA-256 digest (64 hex digits)" };
        var file = new Option<string?>("--file") { Description = "The credential file" };
        var node = new Option<string>("--node") { Description = "Node address(es), comma-separated", Required = true };
        var output = new Option<string?>("--out") { Description = "Write the receipt to this file instead of standard output" };
        var issuer = new Option<string?>("--issuer") { Description = "Only a leaf anchored by this issuer" };
        var command = new Command("prove", "Fetch the receipt of an anchored credential.") { digest, file, node, output, issuer };
        command.Validators.Add(result =>
        {
            if ((result.GetValue(digest) is null) == (result.GetValue(file) is null))
            {
                result.AddError("give exactly one of --digest or --file");
            }
        });
        command.SetAction((parseResult, cancellationToken) => RunAsync(
            parseResult.GetValue(digest),
            parseResult.GetValue(file),
            parseResult.GetValue(node)!,
            parseResult.GetValue(output),
            parseResult.GetValue(issuer),
            cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(string? digestHex, string? file, string nodes, string? output, string? issuer, CancellationToken cancellationToken)
    {
        var digest = digestHex is not null
            ? CommandLineRunner.ParseDigest(digestHex)
            : SHA256.HashData(CommandLineRunner.ReadInput(file!, "credential file", int.MaxValue));
        using var client = new LedgerClient(CliSupport.ParseNodes(nodes));
        string? receipt;
        try
        {
            receipt = await client.GetReceiptAsync(digest, issuer, cancellationToken);
        }
        catch (RpcException exception)
        {
            Console.Error.WriteLine($"ledger: {exception.StatusCode}: {exception.Status.Detail}");
            return ExitCodes.Failed;
        }

        if (receipt is null)
        {
            Console.Error.WriteLine($"ledger: {Convert.ToHexStringLower(digest)} is not anchored");
            return ExitCodes.Failed;
        }

        if (output is null)
        {
            Console.Write(receipt);
        }
        else
        {
            await File.WriteAllTextAsync(output, receipt, cancellationToken);
        }

        return ExitCodes.Ok;
    }
}
