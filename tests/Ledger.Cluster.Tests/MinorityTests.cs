using System.Security.Cryptography;
using Grpc.Core;
using Ledger.Cluster.Tests.Support;
using Ledger.Sdk.Client;

namespace Ledger.Cluster.Tests;

/// <summary>
/// One member of three alone (the other two stopped with SIGSTOP) cannot commit an anchor, whether it
/// is the leader or a follower that would forward to a stopped leader.
/// </summary>
public sealed class MinorityTests
{
    private static readonly TimeSpan PhaseTimeout = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_member_cut_off_from_the_majority_acknowledges_nothing_and_the_cluster_converges_after_resume(bool leaderStaysUp)
    {
        await using var cluster = await LedgerCluster.StartAsync(memberCount: 3, issuerCount: 1, CancellationToken.None);
        await cluster.RunAsync(TimeSpan.FromSeconds(120), async token =>
        {
            var everyone = Enumerable.Range(0, cluster.Count).ToArray();
            var issuer = cluster.Issuers[0];
            var load = new AnchorLoad();
            await load.RunAsync(cluster.All, issuer, loops: 2, digestsPerRequest: 100, requestsPerLoopMax: 2, token);
            Assert.Empty(load.Errors);

            var leader = await cluster.WaitForLeaderAsync(everyone, LedgerCluster.LeaderTimeout, token);
            var remaining = leaderStaysUp ? leader : (leader + 1) % cluster.Count;
            var paused = everyone.Where(i => i != remaining).ToArray();
            // Every member has applied the baseline, so the remaining member's tree size below is what all agree on.
            var before = await ClusterChecks.WaitForConvergenceAsync(cluster, everyone, PhaseTimeout, token);
            foreach (var member in paused)
            {
                await cluster.PauseAsync(member, token);
            }

            var cutOff = new[] { RandomNumberGenerator.GetBytes(32), RandomNumberGenerator.GetBytes(32) };
            using (var impatient = new LedgerClient([cluster.Addresses[remaining]], new LedgerClientOptions(TimeSpan.FromSeconds(3), 1, TimeSpan.FromMilliseconds(50))))
            {
                var refused = await Assert.ThrowsAsync<RpcException>(() => impatient.AnchorAsync(issuer, cutOff, includeReceipts: false, token));
                Assert.True(
                    refused.StatusCode is StatusCode.DeadlineExceeded or StatusCode.Unavailable,
                    $"the anchor on a minority failed with {refused.StatusCode} ({refused.Status.Detail}), expected DeadlineExceeded or Unavailable");
            }

            var alone = await cluster.TryStatusAsync(remaining, token);
            Assert.NotNull(alone);
            Assert.Equal(before, alone.TreeSize);
            var aloneReceipts = await cluster.Probe(remaining).GetReceiptsAsync(cutOff, issuer.Name, token);
            Assert.All(aloneReceipts, Assert.Null);

            foreach (var member in paused)
            {
                await cluster.ResumeAsync(member, token);
            }

            await cluster.WaitForLeaderAsync(everyone, LedgerCluster.LeaderTimeout, token);
            await ClusterChecks.WaitForConvergenceAsync(cluster, everyone, PhaseTimeout, token);
            await load.RunAsync(cluster.All, issuer, loops: 2, digestsPerRequest: 100, requestsPerLoopMax: 2, token);
            Assert.Empty(load.Errors);
            Assert.Equal(800, load.Acknowledged.Count);
            var after = await ClusterChecks.WaitForConvergenceAsync(cluster, everyone, PhaseTimeout, token);
            Assert.True(after >= before + 400);
            var logProblems = await ClusterChecks.LogProblemsAsync(cluster.Client(remaining), after, token);
            Assert.True(logProblems.Count == 0, string.Join("\n", logProblems));
            foreach (var member in everyone)
            {
                await ClusterChecks.WaitForReceiptsAsync(cluster, member, load.Acknowledged, collector: null, PhaseTimeout, token);
            }
        });
    }
}
