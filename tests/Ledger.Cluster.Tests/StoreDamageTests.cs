using Ledger.Cluster.Tests.Support;
using Ledger.TestKit;
using Xunit.Abstractions;

namespace Ledger.Cluster.Tests;

/// <summary>
/// A member whose state store was damaged while it was stopped (a bit flipped in a table file, the
/// fault a long fault-injection campaign met): it finds the damage (the scrub at start), stops with
/// exit code 3 without serving from it, and at its next start deletes the store and rebuilds it
/// from its own Raft log; it then serves a valid quorum-signed receipt for every acknowledged digest.
/// </summary>
public sealed class StoreDamageTests(ITestOutputHelper output)
{
    private const int DigestsPerRequest = 100;
    private const int Requests = 30;
    private const int DamageFoundExitCode = 3;
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan PhaseTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_member_with_a_damaged_state_store_stops_then_rebuilds_it_from_its_raft_log()
    {
        await using var cluster = await LedgerCluster.StartAsync(memberCount: 3, issuerCount: 1, CancellationToken.None);
        await cluster.RunAsync(TimeSpan.FromSeconds(180), async token =>
        {
            var (everyone, damaged, load) = await AnchorOnAllAsync(cluster, token);

            // A clean stop writes the state to table files; one bit is flipped in the middle of the largest.
            await cluster.Node(damaged).TerminateAsync(StopTimeout, token);
            var stateFolder = Path.Combine(cluster.DataDir(damaged), "state");
            var flipped = StoreFileDamage.FlipBitInLargestTable(stateFolder, 0.5);
            output.WriteLine($"flipped a bit in {flipped}");

            var finding = cluster.StartAgain(damaged);
            Assert.Equal(DamageFoundExitCode, await finding.WaitForExitAsync(PhaseTimeout, token));
            Assert.NotEmpty(finding.LinesContaining("stored data is damaged"));
            Assert.True(File.Exists(Path.Combine(cluster.DataDir(damaged), "DAMAGED")), "the member must mark its data directory");

            await cluster.RestartAsync(damaged, token);
            Assert.NotEmpty(cluster.Node(damaged).LinesContaining("rebuilt from the Raft log"));
            Assert.False(File.Exists(Path.Combine(cluster.DataDir(damaged), "DAMAGED")));

            var size = await ClusterChecks.WaitForConvergenceAsync(cluster, everyone, PhaseTimeout, token);
            Assert.Equal((ulong)(DigestsPerRequest * Requests), size);
            await ClusterChecks.WaitForReceiptsAsync(cluster, damaged, load.Acknowledged, collector: null, PhaseTimeout, token);
            var logProblems = await ClusterChecks.LogProblemsAsync(cluster.Client(damaged), size, token);
            Assert.True(logProblems.Count == 0, string.Join("\n", logProblems));

            // The rebuilt member takes new anchors like the others.
            var more = new AnchorLoad();
            await more.RunAsync(cluster.ClientOver([damaged]), cluster.Issuers[0], loops: 1, DigestsPerRequest, requestsPerLoopMax: 2, token);
            Assert.Empty(more.Errors);
            await ClusterChecks.WaitForReceiptsAsync(cluster, damaged, more.Acknowledged, collector: null, PhaseTimeout, token);
        });
    }

    [Fact]
    public async Task A_member_with_a_damaged_raft_log_stops_refuses_to_guess_and_is_replaced_by_the_operator()
    {
        await using var cluster = await LedgerCluster.StartAsync(memberCount: 3, issuerCount: 1, CancellationToken.None);
        await cluster.RunAsync(TimeSpan.FromSeconds(180), async token =>
        {
            var (everyone, damaged, load) = await AnchorOnAllAsync(cluster, token);

            // kill -9: the Raft log's last entries and votes are in its write-ahead log only; a bit in the middle flips.
            cluster.Kill(damaged);
            var flipped = StoreFileDamage.FlipBitInLargestLog(Path.Combine(cluster.DataDir(damaged), "raft"), 0.5);
            output.WriteLine($"flipped a bit in {flipped}");

            // The open refuses the damaged log (the records after the damage would be forgotten otherwise).
            var finding = cluster.StartAgain(damaged);
            Assert.Equal(DamageFoundExitCode, await finding.WaitForExitAsync(PhaseTimeout, token));
            Assert.Equal("raft", (await File.ReadAllLinesAsync(Path.Combine(cluster.DataDir(damaged), "DAMAGED"), token))[0]);

            // Its own disk cannot repair a Raft log: the next start refuses and says what to do.
            var refusing = cluster.StartAgain(damaged);
            Assert.Equal(2, await refusing.WaitForExitAsync(PhaseTimeout, token));
            Assert.NotEmpty(refusing.LinesContaining("start the member with an empty data directory"));

            // The operator does so; the member rebuilds everything from the others.
            cluster.WipeData(damaged);
            await cluster.RestartAsync(damaged, token);
            var size = await ClusterChecks.WaitForConvergenceAsync(cluster, everyone, PhaseTimeout, token);
            Assert.Equal((ulong)(DigestsPerRequest * Requests), size);
            await ClusterChecks.WaitForReceiptsAsync(cluster, damaged, load.Acknowledged, collector: null, PhaseTimeout, token);
        });
    }

    /// <summary>Anchors a known load through every member and waits until they agree; returns them and a follower to damage.</summary>
    private static async Task<(int[] Everyone, int Follower, AnchorLoad Load)> AnchorOnAllAsync(LedgerCluster cluster, CancellationToken token)
    {
        var everyone = Enumerable.Range(0, cluster.Count).ToArray();
        var leader = await cluster.WaitForLeaderAsync(everyone, LedgerCluster.LeaderTimeout, token);
        var load = new AnchorLoad();
        await load.RunAsync(cluster.All, cluster.Issuers[0], loops: 1, DigestsPerRequest, Requests, token);
        Assert.Empty(load.Errors);
        await ClusterChecks.WaitForConvergenceAsync(cluster, everyone, PhaseTimeout, token);
        return (everyone, everyone.First(i => i != leader), load);
    }
}
