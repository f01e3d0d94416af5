using Ledger.Cluster.Tests.Support;
using Ledger.Sdk;

namespace Ledger.Cluster.Tests;

/// <summary>Three members, two issuers anchoring at once through different members.</summary>
public sealed class ReplicationTests
{
    private const int DigestsPerRequest = 200;
    private const int LoopsPerIssuerAndMember = 2;
    private const int RequestsPerLoop = 2;

    [Fact]
    public async Task Every_member_serves_a_quorum_signed_receipt_for_every_digest_anchored_through_any_member()
    {
        await using var cluster = await LedgerCluster.StartAsync(memberCount: 3, issuerCount: 2, CancellationToken.None);
        await cluster.RunAsync(TimeSpan.FromSeconds(120), async token =>
        {
            var collector = new CheckpointCollector();
            using var stopPolling = CancellationTokenSource.CreateLinkedTokenSource(token);
            var polling = collector.PollAsync(cluster, stopPolling.Token);

            // Each issuer through each member: 2 issuers x 3 members x 2 loops x 2 requests x 200 digests.
            var load = new AnchorLoad();
            await Task.WhenAll(
                from issuer in cluster.Issuers
                from member in Enumerable.Range(0, cluster.Count)
                select load.RunAsync(cluster.Client(member), issuer, LoopsPerIssuerAndMember, DigestsPerRequest, RequestsPerLoop, token));
            Assert.Empty(load.Errors);
            var acknowledged = load.Acknowledged;
            Assert.Equal(cluster.Issuers.Count * cluster.Count * LoopsPerIssuerAndMember * RequestsPerLoop * DigestsPerRequest, acknowledged.Count);
            Assert.Equal(acknowledged.Count, acknowledged.Select(ack => ack.LeafIndex).Distinct().Count());

            for (var member = 0; member < cluster.Count; member++)
            {
                await ClusterChecks.WaitForReceiptsAsync(cluster, member, acknowledged, collector, TimeSpan.FromSeconds(30), token);
            }

            var size = await ClusterChecks.WaitForConvergenceAsync(cluster, Enumerable.Range(0, cluster.Count), TimeSpan.FromSeconds(30), token);
            Assert.True(size >= (ulong)acknowledged.Count);
            var logProblems = await ClusterChecks.LogProblemsAsync(cluster.Client(0), size, token);
            Assert.True(logProblems.Count == 0, string.Join("\n", logProblems));
            await stopPolling.CancelAsync();
            await polling;
            Assert.NotEqual(0, collector.Count);
            Assert.Equal(cluster.MemberIds.Order(StringComparer.Ordinal), collector.PolledFrom.Order(StringComparer.Ordinal));
            var problems = await collector.ProblemsAsync(new CheckpointVerifier(cluster.Consortium), cluster.Client(0), token);
            Assert.True(problems.Count == 0, string.Join("\n", problems));
        });
    }
}
