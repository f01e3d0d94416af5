using System.Security.Cryptography;
using Ledger.Sdk;

namespace Ledger.Node.Hosting;

/// <summary>Where a node's identity files are, and whether they were just created.</summary>
internal sealed record NodeFiles(string DataDir, string ConsortiumPath, string MemberKeyPath, string? DevelopmentIssuerKeyPath, bool Created);

/// <summary>
/// The development ledger of SPEC §7: on first start, a single-member consortium with one issuer,
/// written into the data directory (keys with mode 0600); reused on every later start.
/// </summary>
internal static class DevelopmentLedger
{
    public const string MemberName = "dev-member";
    public const string IssuerName = "dev-issuer";
    public const string ConsortiumFileName = "consortium.json";
    public const string MemberKeyFileName = "member.key";
    public const string IssuerKeyFileName = "dev-issuer.key";

    /// <summary>Resolves the files; creates the development ledger when no consortium file exists and none was named.</summary>
    public static NodeFiles Prepare(NodeOptions options)
    {
        var dataDir = Path.GetFullPath(options.DataDir);
        Directory.CreateDirectory(dataDir);
        var consortiumPath = Path.GetFullPath(options.Consortium ?? Path.Combine(dataDir, ConsortiumFileName));
        var memberKeyPath = Path.GetFullPath(options.MemberKey ?? Path.Combine(dataDir, MemberKeyFileName));
        var issuerKeyPath = Path.Combine(dataDir, IssuerKeyFileName);
        var isDevelopment = options.Consortium is null;
        if (File.Exists(consortiumPath) || !isDevelopment)
        {
            return new NodeFiles(dataDir, consortiumPath, memberKeyPath, File.Exists(issuerKeyPath) ? issuerKeyPath : null, false);
        }

        var member = File.Exists(memberKeyPath) ? SignerKey.Load(memberKeyPath) : SignerKey.Generate(MemberName);
        var issuer = SignerKey.Generate(IssuerName);
        var origin = "dev.ledger.local/" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        var consortium = new Consortium(
            origin,
            1,
            [new ConsortiumMember(member.Name, member.Verifier, options.Listen)],
            [new ConsortiumIssuer(issuer.Name, issuer.Verifier, "Development issuer")]);
        if (!File.Exists(memberKeyPath))
        {
            member.Save(memberKeyPath);
        }

        issuer.Save(issuerKeyPath);
        var temporary = consortiumPath + ".tmp";
        File.WriteAllText(temporary, consortium.ToJson());
        File.Move(temporary, consortiumPath, overwrite: true);
        return new NodeFiles(dataDir, consortiumPath, memberKeyPath, issuerKeyPath, true);
    }
}
