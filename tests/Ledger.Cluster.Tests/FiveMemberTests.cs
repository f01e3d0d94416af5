using Ledger.Cluster.Tests.Support;

namespace Ledger.Cluster.Tests;

/// <summary>Five members lose two (the leader among them): the other three still commit and cosign.</summary>
public sealed class FiveMemberTests
{
    private static readonly TimeSpan PhaseTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Three_of_five_members_anchor_and_sign_receipts_after_the_leader_and_another_member_are_killed()
    {
        await using var cluster = await LedgerCluster.StartAsync(memberCount: 5, issuerCount: 1, CancellationToken.None);
        await cluster.RunAsync(TimeSpan.FromSeconds(120), async token =>
        {
            Assert.Equal(3, cluster.Quorum);
            var everyone = Enumerable.Range(0, cluster.Count).ToArray();
            var leader = await cluster.WaitForLeaderAsync(everyone, LedgerCluster.LeaderTimeout, token);

            // Every member of a new consortium holds its votes until every other member has answered
            // (docs/consortium.md, "Replaced member"): two members killed before a third has heard
            // from them leave it holding, and the other two short of a majority. The kills come once
            // all five vote (event 7404); a leader can be known before that.
            await Task.WhenAll(everyone.Select(i => cluster.Node(i).WaitForLineAsync("this member votes again", LedgerCluster.LeaderTimeout, token)));
            var killed = new[] { leader, (leader + 1) % cluster.Count };
            foreach (var member in killed)
            {
                cluster.Kill(member);
            }

            var survivors = everyone.Except(killed).ToArray();
            var load = new AnchorLoad();
            await load.RunAsync(cluster.All, cluster.Issuers[0], loops: 2, digestsPerRequest: 100, requestsPerLoopMax: 3, token);
            Assert.Empty(load.Errors);
            Assert.Equal(600, load.Acknowledged.Count);

            var newLeader = await cluster.WaitForLeaderAsync(survivors, LedgerCluster.LeaderTimeout, token, notLeader: cluster.MemberIds[leader]);
            Assert.Contains(newLeader, survivors);
            // The digests were anchored after the kills, so only the survivors can have signed checkpoints that hold them.
            var signersAllowed = survivors.Select(i => cluster.MemberIds[i]).ToHashSet(StringComparer.Ordinal);
            foreach (var member in survivors)
            {
                await ClusterChecks.WaitForReceiptsAsync(cluster, member, load.Acknowledged, collector: null, PhaseTimeout, token, signersAllowed);
            }

            await ClusterChecks.WaitForConvergenceAsync(cluster, survivors, PhaseTimeout, token);
        });
    }
}
