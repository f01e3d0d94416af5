using Ledger.TestKit;
using System.Security.Cryptography;
using Ledger.Node.Tests.Support;
using Ledger.Sdk;
using Ledger.Sdk.Client;

namespace Ledger.Node.Tests;

/// <summary>
/// A client that trusts one history notices a node that shows another: two nodes with the same
/// consortium file and member key (so both checkpoints carry valid signatures) but different logs.
/// </summary>
public sealed class TrustedStateEndToEndTests
{
    private static byte[][] FreshDigests(int count) => Enumerable.Range(0, count).Select(_ => RandomNumberGenerator.GetBytes(32)).ToArray();

    [Fact]
    public async Task A_node_showing_a_rewritten_history_is_rejected_and_an_honest_one_advances()
    {
        await using var honest = await InProcessNode.StartAsync();
        using var forkDir = new TempDirectory("ledger-node-tests");
        var consortiumCopy = Path.Combine(forkDir.Path, "consortium.json");
        File.Copy(honest.Host.Node.Files.ConsortiumPath, consortiumCopy);
        var memberKeyCopy = Path.Combine(forkDir.Path, "member.key");
        honest.Host.Node.MemberKey.Save(memberKeyCopy);
        await using var forked = await InProcessNode.StartAsync("--consortium", consortiumCopy, "--member-key", memberKeyCopy);
        var issuer = honest.IssuerKey;

        using var honestClient = new LedgerClient([new Uri(honest.Host.Address)]);
        using var forkedClient = new LedgerClient([new Uri(forked.Host.Address)]);
        var verifier = new CheckpointVerifier(honest.Consortium);
        using var dir = new TempDirectory("ledger-node-tests");
        using var trusted = new TrustedStateStore(Path.Combine(dir.Path, "trusted.db"));

        await honestClient.AnchorAsync(issuer, FreshDigests(5), includeReceipts: true);
        Assert.Equal(TrustDecision.TrustedFirst, (await honestClient.RefreshTrustedCheckpointAsync(trusted, verifier)).Decision);
        await honestClient.AnchorAsync(issuer, FreshDigests(3), includeReceipts: true);
        Assert.Equal(TrustDecision.Advanced, (await honestClient.RefreshTrustedCheckpointAsync(trusted, verifier)).Decision);
        var trustedText = trusted.GetTrustedText(honest.Origin);

        await forkedClient.AnchorAsync(issuer, FreshDigests(20), includeReceipts: true);
        var update = await forkedClient.RefreshTrustedCheckpointAsync(trusted, verifier);
        Assert.Equal(TrustDecision.Rejected, update.Decision);
        Assert.Contains("rewritten", update.Reason, StringComparison.Ordinal);
        Assert.Equal(trustedText, trusted.GetTrustedText(honest.Origin));
    }
}
