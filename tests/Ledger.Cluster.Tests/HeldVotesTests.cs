using Ledger.Cluster.Tests.Support;

namespace Ledger.Cluster.Tests;

/// <summary>
/// Every member of a new consortium holds its votes until it has heard from every other member
/// (docs/consortium.md, "Replaced member"). A consortium one of whose members never starts elects
/// nobody; the operator can release the votes of the stopped members that did start
/// (<c>ledger-node release-votes</c>), and the late member joins when it comes.
/// </summary>
public sealed class HeldVotesTests
{
    private static readonly TimeSpan PhaseTimeout = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_new_consortium_missing_a_member_elects_nobody_until_the_operator_releases_the_votes_of_the_others()
    {
        await using var cluster = LedgerCluster.Prepare(memberCount: 3, issuerCount: 1);
        await cluster.RunAsync(TimeSpan.FromSeconds(180), async token =>
        {
            int[] started = [0, 1];
            const int late = 2;
            foreach (var member in started)
            {
                await cluster.RestartAsync(member, token);
            }

            // Long enough for several elections (10 to 20 ticks of 50 ms each) had the votes not been held.
            await Task.Delay(TimeSpan.FromSeconds(3), token);
            foreach (var member in started)
            {
                var status = await cluster.TryStatusAsync(member, token);
                Assert.NotNull(status);
                Assert.Equal("", status.Leader);
                Assert.True(status.Members.Single(m => m.Id == cluster.MemberIds[member]).VotesHeld, LedgerCluster.Describe(status));
            }

            // Refused while the node runs, and nothing changes.
            var (exitCode, output) = await ReleaseVotesAsync(cluster, cluster.DataDir(0), token);
            Assert.Equal(1, exitCode);
            Assert.Contains("is ledger-node running on it? Stop it first; nothing changed", output);
            var stillHeld = await cluster.TryStatusAsync(0, token);
            Assert.True(stillHeld!.Members.Single(m => m.Id == cluster.MemberIds[0]).VotesHeld);

            foreach (var member in started)
            {
                cluster.Kill(member);
                (exitCode, output) = await ReleaseVotesAsync(cluster, cluster.DataDir(member), token);
                Assert.True(exitCode == 0, output);
                Assert.Contains("votes released for the member in", output);
            }

            (exitCode, output) = await ReleaseVotesAsync(cluster, cluster.DataDir(0), token);
            Assert.Equal(1, exitCode);
            Assert.Contains("does not hold its votes; nothing changed", output);
            (exitCode, output) = await ReleaseVotesAsync(cluster, cluster.DataDir(late), token);
            Assert.Equal(1, exitCode);
            Assert.Contains("holds no Raft log", output);
            Assert.False(Directory.Exists(cluster.DataDir(late)), "a refused release created the member's folder");

            foreach (var member in started)
            {
                await cluster.RestartAsync(member, token);
            }

            await cluster.WaitForLeaderAsync(started, LedgerCluster.LeaderTimeout, token);
            var load = new AnchorLoad();
            await load.RunAsync(cluster.ClientOver(started), cluster.Issuers[0], loops: 1, digestsPerRequest: 50, requestsPerLoopMax: 2, token);
            Assert.Empty(load.Errors);
            Assert.Equal(100, load.Acknowledged.Count);
            foreach (var member in started)
            {
                await ClusterChecks.WaitForReceiptsAsync(cluster, member, load.Acknowledged, collector: null, PhaseTimeout, token);
            }

            // The late member rebuilds from the leader, hears from both others and votes; all three serve the receipts.
            await cluster.RestartAsync(late, token);
            await cluster.WaitForVotesReleasedAsync([0, 1, late], PhaseTimeout, token);
            await ClusterChecks.WaitForReceiptsAsync(cluster, late, load.Acknowledged, collector: null, PhaseTimeout, token);
        });
    }

    private static async Task<(int ExitCode, string Output)> ReleaseVotesAsync(LedgerCluster cluster, string dataDir, CancellationToken cancellationToken)
    {
        var command = cluster.StartOutsider("release-votes", ["release-votes", "--data-dir", dataDir]);
        var exitCode = await command.WaitForExitAsync(CommandTimeout, cancellationToken);
        return (exitCode, command.Output);
    }
}
