using Ledger.Cluster.Tests.Support;
using Xunit.Abstractions;

namespace Ledger.Cluster.Tests;

/// <summary>An operator stops the leader (SIGTERM): it hands leadership over before it goes.</summary>
public sealed class GracefulStopTests(ITestOutputHelper output)
{
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_leader_stopped_gracefully_hands_leadership_to_a_follower_and_anchoring_goes_on()
    {
        await using var cluster = await LedgerCluster.StartAsync(memberCount: 3, issuerCount: 1, CancellationToken.None);
        await cluster.RunAsync(TimeSpan.FromSeconds(120), async token =>
        {
            var everyone = Enumerable.Range(0, cluster.Count).ToArray();
            var leader = await cluster.WaitForLeaderAsync(everyone, LedgerCluster.LeaderTimeout, token);

            await cluster.Node(leader).TerminateAsync(StopTimeout, token);

            // The stopping leader stepped down for the member it asked (within its 2 s wait: without the
            // hand-off it would lead until it exits), and a survivor leads: usually the one asked, but
            // another whose own election timeout fired at the same moment may win that election.
            var handed = Assert.Single(cluster.Node(leader).LinesContaining("leadership handed to"));
            var survivors = everyone.Where(i => i != leader).ToArray();
            var asked = survivors.Single(i => handed.Contains("handed to " + cluster.MemberIds[i], StringComparison.Ordinal));
            var newLeader = await cluster.WaitForLeaderAsync(survivors, LedgerCluster.LeaderTimeout, token, notLeader: cluster.MemberIds[leader]);
            output.WriteLine($"asked {cluster.MemberIds[asked]}; {cluster.MemberIds[newLeader]} leads");

            var load = new AnchorLoad();
            using var client = cluster.ClientOver(survivors);
            await load.RunAsync(client, cluster.Issuers[0], loops: 1, digestsPerRequest: 50, requestsPerLoopMax: 2, token);
            Assert.Empty(load.Errors);
            Assert.Equal(100, load.Acknowledged.Count);
        });
    }

    [Fact]
    public async Task A_follower_stopped_gracefully_leaves_the_leader_in_place()
    {
        await using var cluster = await LedgerCluster.StartAsync(memberCount: 3, issuerCount: 1, CancellationToken.None);
        await cluster.RunAsync(TimeSpan.FromSeconds(120), async token =>
        {
            var everyone = Enumerable.Range(0, cluster.Count).ToArray();
            var leader = await cluster.WaitForLeaderAsync(everyone, LedgerCluster.LeaderTimeout, token);
            var follower = everyone.First(i => i != leader);

            await cluster.Node(follower).TerminateAsync(StopTimeout, token);

            Assert.Empty(cluster.Node(follower).LinesContaining("leadership handed to"));
            var status = await cluster.TryStatusAsync(leader, token);
            Assert.NotNull(status);
            Assert.Equal(cluster.MemberIds[leader], status.Leader);
        });
    }
}
