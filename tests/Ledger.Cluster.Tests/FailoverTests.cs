using System.Diagnostics;
using Ledger.Cluster.Tests.Support;
using Ledger.Sdk;
using Ledger.TestKit;
using Xunit.Abstractions;

namespace Ledger.Cluster.Tests;

/// <summary>
/// kill -9 of the leader under load: a new leader takes over, anchoring resumes, the old leader
/// catches up after a restart, and no acknowledged digest is lost on any member; every checkpoint
/// seen on the way is consistent with every other.
/// </summary>
public sealed class FailoverTests(ITestOutputHelper output)
{
    private const int Loops = 8;
    private const int DigestsPerRequest = 50;
    private const int RequestsPerLoopMax = 250;
    private const int AcknowledgedBeforeKillMin = 1_000;
    private const int AcknowledgedAfterKillMin = 1_000;
    private static readonly TimeSpan PhaseTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Leader_killed_under_load_a_new_leader_takes_over_and_nothing_acknowledged_is_lost()
    {
        await using var cluster = await LedgerCluster.StartAsync(memberCount: 3, issuerCount: 1, CancellationToken.None);
        await cluster.RunAsync(TimeSpan.FromSeconds(150), async token =>
        {
            var everyone = Enumerable.Range(0, cluster.Count).ToArray();
            var collector = new CheckpointCollector();
            using var stopPolling = CancellationTokenSource.CreateLinkedTokenSource(token);
            var polling = collector.PollAsync(cluster, stopPolling.Token);
            var oldLeader = await cluster.WaitForLeaderAsync(everyone, LedgerCluster.LeaderTimeout, token);
            var oldTerm = (await cluster.Client(oldLeader).GetStatusAsync(token)).Members.Single(m => m.Id == cluster.MemberIds[oldLeader]).Term;

            var load = new AnchorLoad();
            using var stopLoad = CancellationTokenSource.CreateLinkedTokenSource(token);
            var loading = load.RunAsync(cluster.All, cluster.Issuers[0], Loops, DigestsPerRequest, RequestsPerLoopMax, stopLoad.Token);
            await Wait.UntilAsync("acknowledgements before the kill", PhaseTimeout, _ =>
                Task.FromResult((load.Acknowledged.Count >= AcknowledgedBeforeKillMin, $"{load.Acknowledged.Count} acknowledged, errors: {string.Join("; ", load.Errors.Take(5))}")), token);

            cluster.Kill(oldLeader);
            var killedAt = Stopwatch.GetTimestamp();
            var survivors = everyone.Where(i => i != oldLeader).ToArray();
            var newLeader = await cluster.WaitForLeaderAsync(survivors, LedgerCluster.LeaderTimeout, token, notLeader: cluster.MemberIds[oldLeader]);
            var newTerm = (await cluster.Client(newLeader).GetStatusAsync(token)).Members.Single(m => m.Id == cluster.MemberIds[newLeader]).Term;
            Assert.True(newTerm > oldTerm, $"the new leader's term {newTerm} is not above the old leader's {oldTerm}");

            // Each survivor logs the new leader and its term (event 7401); the one that called the
            // election first logs that the old leader was gone (event 7402).
            await Wait.UntilAsync("the survivors' log lines naming the new leader", PhaseTimeout, _ =>
            {
                var missing = survivors.Where(i => cluster.Node(i).LinesContaining($"member {cluster.MemberIds[newLeader]} leads in term {newTerm};").Count == 0).ToArray();
                return Task.FromResult((missing.Length == 0, $"no line from {string.Join(", ", missing.Select(i => cluster.MemberIds[i]))}"));
            }, token);
            Assert.Contains(survivors, i => cluster.Node(i).LinesContaining($"member {cluster.MemberIds[oldLeader]} no longer leads").Count > 0);
            await Wait.UntilAsync("acknowledgements of requests sent after the kill", PhaseTimeout, _ =>
                Task.FromResult((load.AcknowledgedStartedAfter(killedAt) >= AcknowledgedAfterKillMin, $"{load.AcknowledgedStartedAfter(killedAt)} acknowledged after the kill, errors: {string.Join("; ", load.Errors.TakeLast(5))}")), token);
            await stopLoad.CancelAsync();
            await loading;
            var acknowledged = load.Acknowledged;
            output.WriteLine($"{acknowledged.Count} digests acknowledged in {load.Requests} requests, {load.AcknowledgedStartedAfter(killedAt)} after the kill; {load.Errors.Count} errors: {string.Join("; ", load.Errors.Take(10))}");
            Assert.Equal(acknowledged.Count, acknowledged.Select(ack => ack.LeafIndex).Distinct().Count());

            await cluster.RestartAsync(oldLeader, token);
            var size = await ClusterChecks.WaitForConvergenceAsync(cluster, everyone, PhaseTimeout, token);
            Assert.True(size >= (ulong)acknowledged.Count);
            var logProblems = await ClusterChecks.LogProblemsAsync(cluster.Client(oldLeader), size, token);
            Assert.True(logProblems.Count == 0, string.Join("\n", logProblems));

            // The heartbeats the new leader queued for the old one while it was down were dropped when
            // its stream to the restarted member opened, not sent (GrpcPeerTransport), and counted.
            var stale = await StaleMessagesToAsync(cluster.Addresses[newLeader], cluster.MemberIds[oldLeader], token);
            Assert.True(stale > 0, $"the new leader counted {stale} stale messages to {cluster.MemberIds[oldLeader]}");
            foreach (var member in everyone)
            {
                await ClusterChecks.WaitForReceiptsAsync(cluster, member, acknowledged, collector, PhaseTimeout, token);
            }

            await stopPolling.CancelAsync();
            await polling;
            output.WriteLine($"{collector.Count} distinct checkpoints collected");
            Assert.NotEqual(0, collector.Count);
            Assert.Equal(cluster.MemberIds.Order(StringComparer.Ordinal), collector.PolledFrom.Order(StringComparer.Ordinal));
            var problems = await collector.ProblemsAsync(new CheckpointVerifier(cluster.Consortium), cluster.Client(newLeader), token);
            Assert.True(problems.Count == 0, string.Join("\n", problems));
        });
    }

    /// <summary>The member at <paramref name="address"/>'s count of stale messages to <paramref name="memberId"/>, from its /metrics (plain HTTP/2).</summary>
    private static async Task<double> StaleMessagesToAsync(Uri address, string memberId, CancellationToken token)
    {
        using var http = new HttpClient { DefaultRequestVersion = System.Net.HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        var scrape = await http.GetStringAsync(new Uri(address, "/metrics"), token);
        return MetricsScrape.Sample(scrape, "ledger_peer_messages_dropped_total", $"member=\"{memberId}\"", "reason=\"stale\"");
    }

    [Fact]
    public async Task Leader_stopped_with_SIGSTOP_comes_back_as_a_follower_and_what_it_acknowledges_after_resume_is_kept()
    {
        await using var cluster = await LedgerCluster.StartAsync(memberCount: 3, issuerCount: 1, CancellationToken.None);
        await cluster.RunAsync(TimeSpan.FromSeconds(150), async token =>
        {
            var phases = new PhaseClock(output);
            var everyone = Enumerable.Range(0, cluster.Count).ToArray();
            var collector = new CheckpointCollector();
            using var stopPolling = CancellationTokenSource.CreateLinkedTokenSource(token);
            var polling = collector.PollAsync(cluster, stopPolling.Token);
            var oldLeader = await cluster.WaitForLeaderAsync(everyone, LedgerCluster.LeaderTimeout, token);

            var load = new AnchorLoad();
            using var stopLoad = CancellationTokenSource.CreateLinkedTokenSource(token);
            var loading = load.RunAsync(cluster.All, cluster.Issuers[0], loops: 4, DigestsPerRequest, RequestsPerLoopMax, stopLoad.Token);
            await Wait.UntilAsync("acknowledgements before the pause", PhaseTimeout, _ =>
                Task.FromResult((load.Acknowledged.Count >= 300, $"{load.Acknowledged.Count} acknowledged")), token);
            await cluster.PauseAsync(oldLeader, token);
            phases.Mark("paused the leader");
            var pausedAt = Stopwatch.GetTimestamp();
            var others = everyone.Where(i => i != oldLeader).ToArray();
            await cluster.WaitForLeaderAsync(others, LedgerCluster.LeaderTimeout, token, notLeader: cluster.MemberIds[oldLeader]);
            phases.Mark("new leader");
            await Wait.UntilAsync("acknowledgements while the old leader is stopped", PhaseTimeout, _ =>
                Task.FromResult((load.AcknowledgedStartedAfter(pausedAt) >= 300, $"{load.AcknowledgedStartedAfter(pausedAt)} acknowledged")), token);

            // Right after SIGCONT the old leader may still believe it leads: anchor through it alone
            // (the load through every member stops first, so that the old leader has a bounded log to catch up on).
            await stopLoad.CancelAsync();
            await loading;
            await cluster.ResumeAsync(oldLeader, token);
            phases.Mark("resumed the old leader");
            var throughOldLeader = new AnchorLoad();
            await throughOldLeader.RunAsync(cluster.ClientOver([oldLeader]), cluster.Issuers[0], loops: 2, DigestsPerRequest, requestsPerLoopMax: 3, token);
            phases.Mark("anchored through the old leader; load stopped");
            output.WriteLine($"{load.Acknowledged.Count} acknowledged through every member, errors: {string.Join("; ", load.Errors.Take(10))}");
            output.WriteLine($"{throughOldLeader.Acknowledged.Count} acknowledged through the resumed old leader, errors: {string.Join("; ", throughOldLeader.Errors.Take(10))}");
            Assert.Empty(throughOldLeader.Errors);
            Assert.Equal(2 * 3 * DigestsPerRequest, throughOldLeader.Acknowledged.Count);

            await cluster.WaitForLeaderAsync(everyone, LedgerCluster.LeaderTimeout, token);
            var acknowledged = load.Acknowledged.Concat(throughOldLeader.Acknowledged).ToArray();
            Assert.Equal(acknowledged.Length, acknowledged.Select(ack => ack.LeafIndex).Distinct().Count());
            var size = await ClusterChecks.WaitForConvergenceAsync(cluster, everyone, PhaseTimeout, token);
            phases.Mark("converged");
            var logProblems = await ClusterChecks.LogProblemsAsync(cluster.Client(oldLeader), size, token);
            Assert.True(logProblems.Count == 0, string.Join("\n", logProblems));
            foreach (var member in everyone)
            {
                await ClusterChecks.WaitForReceiptsAsync(cluster, member, acknowledged, collector, PhaseTimeout, token);
            }

            await stopPolling.CancelAsync();
            await polling;
            phases.Mark("receipts checked");
            var problems = await collector.ProblemsAsync(new CheckpointVerifier(cluster.Consortium), cluster.Client(oldLeader), token);
            Assert.True(problems.Count == 0, string.Join("\n", problems));
            phases.Mark("checkpoints checked");
        });
    }

    [Fact]
    public async Task Every_member_killed_at_once_under_load_restarts_with_every_acknowledged_digest()
    {
        await using var cluster = await LedgerCluster.StartAsync(memberCount: 3, issuerCount: 1, CancellationToken.None);
        await cluster.RunAsync(TimeSpan.FromSeconds(150), async token =>
        {
            var everyone = Enumerable.Range(0, cluster.Count).ToArray();
            var checkpointsBefore = new CheckpointCollector();
            using var stopPolling = CancellationTokenSource.CreateLinkedTokenSource(token);
            var polling = checkpointsBefore.PollAsync(cluster, stopPolling.Token);
            var load = new AnchorLoad();
            using var stopLoad = CancellationTokenSource.CreateLinkedTokenSource(token);
            var loading = load.RunAsync(cluster.All, cluster.Issuers[0], Loops, DigestsPerRequest, RequestsPerLoopMax, stopLoad.Token);
            await Wait.UntilAsync("acknowledgements before the crash", PhaseTimeout, _ =>
                Task.FromResult((load.Acknowledged.Count >= AcknowledgedBeforeKillMin, $"{load.Acknowledged.Count} acknowledged")), token);
            foreach (var member in everyone)
            {
                cluster.Kill(member);
            }

            // Nothing answers until the restart below, so the loops' acknowledgements are complete once they stop.
            await stopLoad.CancelAsync();
            await loading;
            var acknowledged = load.Acknowledged;
            await stopPolling.CancelAsync();
            await polling;
            output.WriteLine($"{acknowledged.Count} digests acknowledged before every member was killed");

            await Task.WhenAll(everyone.Select(member => cluster.RestartAsync(member, token)));
            await cluster.WaitForLeaderAsync(everyone, LedgerCluster.LeaderTimeout, token);
            var size = await ClusterChecks.WaitForConvergenceAsync(cluster, everyone, PhaseTimeout, token);
            Assert.True(size >= (ulong)acknowledged.Count, $"tree size {size} after the restart, {acknowledged.Count} digests were acknowledged");
            foreach (var member in everyone)
            {
                await ClusterChecks.WaitForReceiptsAsync(cluster, member, acknowledged, checkpointsBefore, PhaseTimeout, token);
            }

            var logProblems = await ClusterChecks.LogProblemsAsync(cluster.Client(0), size, token);
            Assert.True(logProblems.Count == 0, string.Join("\n", logProblems));
            var problems = await checkpointsBefore.ProblemsAsync(new CheckpointVerifier(cluster.Consortium), cluster.Client(0), token);
            Assert.True(problems.Count == 0, string.Join("\n", problems));
        });
    }

    [Fact]
    public async Task A_follower_that_lost_its_disk_rebuilds_from_the_others_and_serves_every_receipt()
    {
        await using var cluster = await LedgerCluster.StartAsync(memberCount: 3, issuerCount: 1, CancellationToken.None);
        await cluster.RunAsync(TimeSpan.FromSeconds(120), async token =>
        {
            var everyone = Enumerable.Range(0, cluster.Count).ToArray();
            var leader = await cluster.WaitForLeaderAsync(everyone, LedgerCluster.LeaderTimeout, token);
            var follower = (leader + 1) % cluster.Count;
            var load = new AnchorLoad();
            await load.RunAsync(cluster.All, cluster.Issuers[0], loops: 4, DigestsPerRequest, requestsPerLoopMax: 5, token);
            cluster.Kill(follower);
            cluster.WipeData(follower);
            // The two others go on committing while it is gone.
            await load.RunAsync(cluster.All, cluster.Issuers[0], loops: 4, DigestsPerRequest, requestsPerLoopMax: 5, token);
            Assert.Empty(load.Errors);
            Assert.Equal(2 * 4 * 5 * DigestsPerRequest, load.Acknowledged.Count);

            await cluster.RestartAsync(follower, token);
            var size = await ClusterChecks.WaitForConvergenceAsync(cluster, everyone, PhaseTimeout, token);
            Assert.True(size >= (ulong)load.Acknowledged.Count);
            await ClusterChecks.WaitForReceiptsAsync(cluster, follower, load.Acknowledged, collector: null, PhaseTimeout, token);
            var logProblems = await ClusterChecks.LogProblemsAsync(cluster.Client(follower), size, token);
            Assert.True(logProblems.Count == 0, string.Join("\n", logProblems));
        });
    }
}
