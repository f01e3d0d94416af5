using System.CommandLine;
using Ledger.Sdk;

namespace Ledger.Cli.Commands;

/// <summary>
/// <c>ledger consortium assemble</c>: builds the consortium file from the public parts that members and
/// issuers share (their verifier keys, printed by <c>ledger keygen</c>), and validates it.
/// </summary>
internal static class ConsortiumCommand
{
    public static Command Create()
    {
        var origin = new Option<string>("--origin") { Description = "The log's name, e.g. ledger.example.org/badges-2026 (no spaces, no '+')", Required = true };
        var members = new Option<string[]>("--member")
        {
            Description = "A member as VERIFIER_KEY@ADDRESS (repeat per member); the key's name is the member's id",
            Required = true,
            AllowMultipleArgumentsPerToken = false,
        };
        var issuers = new Option<string[]>("--issuer") { Description = "An issuer as VERIFIER_KEY or VERIFIER_KEY@DISPLAY NAME (repeat per issuer)" };
        var quorum = new Option<int?>("--quorum") { Description = "Distinct member signatures a checkpoint needs (default: a majority)" };
        var output = new Option<string>("--out") { Description = "Where to write the consortium file (never overwritten)", Required = true };
        var assemble = new Command("assemble", "Write a consortium file from members' and issuers' verifier keys.") { origin, members, issuers, quorum, output };
        assemble.SetAction(parseResult => Assemble(
            parseResult.GetValue(origin)!, parseResult.GetValue(members)!, parseResult.GetValue(issuers) ?? [],
            parseResult.GetValue(quorum), parseResult.GetValue(output)!));
        var check = new Command("check", "Validate a consortium file and print its members and issuers.") { new Argument<string>("FILE") };
        check.SetAction(parseResult => Check(parseResult.GetValue<string>("FILE")!));
        return new Command("consortium", "Create and check consortium files.") { assemble, check };
    }

    private static int Assemble(string origin, string[] memberSpecs, string[] issuerSpecs, int? quorum, string path)
    {
        if (File.Exists(path))
        {
            throw new CommandException(ExitCodes.Usage, $"{path} already exists; refusing to overwrite a consortium file");
        }

        Consortium consortium;
        try
        {
            var members = memberSpecs.Select(ParseMember).ToList();
            var issuers = issuerSpecs.Select(ParseIssuer).ToList();
            consortium = new Consortium(origin, quorum ?? Consortium.MajorityOf(members.Count), members, issuers);
        }
        catch (FormatException e)
        {
            throw new CommandException(ExitCodes.Usage, e.Message);
        }

        File.WriteAllText(path, consortium.ToJson());
        Console.WriteLine($"wrote {path}: origin {consortium.Origin}, {consortium.Members.Count} members, quorum {consortium.Quorum}, {consortium.Issuers.Count} issuers");
        return ExitCodes.Ok;
    }

    private static int Check(string path)
    {
        var bytes = CommandLineRunner.ReadInput(path, "consortium file", Consortium.FileBytesMax);
        Consortium consortium;
        try
        {
            consortium = Consortium.Parse(System.Text.Encoding.UTF8.GetString(bytes));
        }
        catch (FormatException e)
        {
            Console.WriteLine("INVALID: " + e.Message);
            return ExitCodes.Failed;
        }

        Console.WriteLine($"origin:  {consortium.Origin}");
        Console.WriteLine($"quorum:  {consortium.Quorum} of {consortium.Members.Count}");
        foreach (var member in consortium.Members)
        {
            Console.WriteLine($"member:  {member.Id}  {member.Address ?? "(no address: found by discovery)"}  key {KeyId.ToHex(member.Key.Id)}");
        }

        foreach (var issuer in consortium.Issuers)
        {
            Console.WriteLine($"issuer:  {issuer.Id}  {issuer.DisplayName}  key {KeyId.ToHex(issuer.Key.Id)}");
        }

        return ExitCodes.Ok;
    }

    private static ConsortiumMember ParseMember(string spec)
    {
        var at = spec.IndexOf('@', StringComparison.Ordinal);
        var key = VerifierKey.Parse(at < 0 ? spec : spec[..at]);
        var address = at < 0 ? null : spec[(at + 1)..];
        if (address is not null && (!Uri.TryCreate(address, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")))
        {
            throw new FormatException($"member '{key.Name}': address '{address}' is not an http:// or https:// URL");
        }

        return new ConsortiumMember(key.Name, key, address);
    }

    private static ConsortiumIssuer ParseIssuer(string spec)
    {
        var at = spec.IndexOf('@', StringComparison.Ordinal);
        var key = VerifierKey.Parse(at < 0 ? spec : spec[..at]);
        return new ConsortiumIssuer(key.Name, key, at < 0 ? null : spec[(at + 1)..]);
    }
}
