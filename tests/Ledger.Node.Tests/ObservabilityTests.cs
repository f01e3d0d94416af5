using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Ledger.Node.Tests.Support;
using Ledger.Sdk;
using Ledger.Sdk.Client;
using Ledger.TestKit;

namespace Ledger.Node.Tests;

/// <summary>The metrics endpoint and <c>ledger status</c> after a known workload, and the gRPC health service.</summary>
public sealed class ObservabilityTests
{
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_scrape_after_a_known_workload_shows_its_counts_and_the_health_service_answers()
    {
        using var dir = new TempDirectory("ledger-node-tests");
        var metricsAddress = $"http://127.0.0.1:{LoopbackPorts.Free()}";
        using var node = RunningProgram.Start(RepoPaths.NodeDll, ["--data-dir", Path.Combine(dir.Path, "data"), "--listen", "http://127.0.0.1:0", "--metrics-listen", metricsAddress], dir.Path);
        var address = await node.WaitForAddressAsync(StepTimeout);
        var issuer = SignerKey.Load(Path.Combine(dir.Path, "data", "dev-issuer.key"));
        using var client = new LedgerClient([new Uri(address)]);
        await client.AnchorAsync(issuer, [RandomNumberGenerator.GetBytes(32), RandomNumberGenerator.GetBytes(32)], includeReceipts: false);
        await client.AnchorAsync(issuer, [RandomNumberGenerator.GetBytes(32), RandomNumberGenerator.GetBytes(32), RandomNumberGenerator.GetBytes(32)], includeReceipts: false);
        var stranger = SignerKey.Generate(issuer.Name);
        await Assert.ThrowsAsync<RpcException>(() => client.AnchorAsync(stranger, [RandomNumberGenerator.GetBytes(32)], includeReceipts: false));

        // A batch's size is recorded when its proposal settles, which may come a moment after the
        // anchor was answered: the scrape is taken once both batches are counted (or the wait ends).
        using var http = new HttpClient();
        var scrape = await http.GetStringAsync(new Uri(metricsAddress + "/metrics"));
        static bool BothBatchesCounted(string scrape) =>
            scrape.Contains("ledger_batch_digests_sum{", StringComparison.Ordinal) && MetricsScrape.Sample(scrape, "ledger_batch_digests_sum") >= 5;
        for (var waited = Stopwatch.StartNew(); !BothBatchesCounted(scrape) && waited.Elapsed < StepTimeout;)
        {
            await Task.Delay(20);
            scrape = await http.GetStringAsync(new Uri(metricsAddress + "/metrics"));
        }

        Assert.Equal(2, MetricsScrape.Sample(scrape, "ledger_anchors_total"));
        Assert.Equal(5, MetricsScrape.Sample(scrape, "ledger_digests_total"));
        Assert.Equal(1, MetricsScrape.Sample(scrape, "ledger_admission_refusals_total", "reason=\"Unauthenticated\""));
        Assert.Equal(5, MetricsScrape.Sample(scrape, "ledger_tree_size"));
        Assert.Equal(5, MetricsScrape.Sample(scrape, "ledger_batch_digests_sum"));
        Assert.True(MetricsScrape.Sample(scrape, "ledger_apply_duration_seconds_count") >= 1);
        Assert.True(MetricsScrape.Sample(scrape, "ledger_commit_duration_seconds_count") >= 1);

        // The main listener does not serve /metrics when a metrics listener is set; the metrics listener serves nothing else.
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(new Uri(metricsAddress + "/v1/anything"))).StatusCode);

        using var channel = GrpcChannel.ForAddress(address);
        var health = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow + StepTimeout);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Status);

        // The real CLI shows a person the same numbers, and keeps SPEC's keys in --json.
        var json = await ProcessRunner.RunLedgerAsync("status", "--node", address, "--json");
        Assert.True(json.ExitCode == 0, json.ToString());
        var status = JsonDocument.Parse(json.StandardOutput).RootElement;
        Assert.Equal(5, status.GetProperty("treeSize").GetInt64());
        Assert.Equal("dev-member", status.GetProperty("leader").GetString());
        Assert.Equal(["id", "address", "role", "term", "commitIndex", "appliedIndex"],
            status.GetProperty("members")[0].EnumerateObject().Select(p => p.Name).Take(6));
        var activity = status.GetProperty("activity");
        Assert.Equal("dev-member", activity.GetProperty("member").GetString());
        Assert.Equal(2, activity.GetProperty("anchors").GetInt64());
        Assert.Equal(5, activity.GetProperty("digests").GetInt64());
        Assert.Equal(1, activity.GetProperty("refusals").GetProperty("Unauthenticated").GetInt64());
        Assert.Single(activity.GetProperty("refusals").EnumerateObject());
        Assert.Equal(0, activity.GetProperty("leaderChanges").GetInt64());
        Assert.Equal(MetricsScrape.Sample(scrape, "ledger_batch_digests_count"), activity.GetProperty("batches").GetInt64());
        Assert.Equal(5, activity.GetProperty("batchDigests").GetInt64());
        Assert.True(activity.GetProperty("commitP99Ms").GetDouble() >= activity.GetProperty("commitP50Ms").GetDouble());
        Assert.True(activity.GetProperty("commitP50Ms").GetDouble() > 0);
        Assert.True(activity.GetProperty("applyP50Ms").GetDouble() > 0);
        Assert.True(activity.GetProperty("anchorsPerSecond").GetDouble() >= 0);

        var text = await ProcessRunner.RunLedgerAsync("status", "--node", address);
        Assert.True(text.ExitCode == 0, text.ToString());
        var lines = text.StandardOutput.Split('\n').Select(line => string.Join(' ', line.Split(' ', StringSplitOptions.RemoveEmptyEntries))).ToList();
        Assert.Contains(lines, line => line.StartsWith("dev-member since it started ", StringComparison.Ordinal));
        Assert.Contains(lines, line => line.StartsWith("anchors: 2 ", StringComparison.Ordinal));
        Assert.Contains(lines, line => line.StartsWith("digests: 5 ", StringComparison.Ordinal));
        Assert.Contains("refused: 1 (Unauthenticated 1)", lines);
        Assert.Contains("leader changes: 0", lines);
        Assert.Contains(lines, line => line.StartsWith("commit latency: p50 ", StringComparison.Ordinal));

        // The probe an orchestrator runs: the gRPC health service through the CLI, and a node that is not there.
        var probe = await ProcessRunner.RunLedgerAsync("status", "--health", "--node", address);
        Assert.True(probe.ExitCode == 0, probe.ToString());
        Assert.Equal($"{new Uri(address)} SERVING", probe.StandardOutput.Trim());
        var nobody = $"http://127.0.0.1:{LoopbackPorts.Free()}";
        var missing = await ProcessRunner.RunLedgerAsync("status", "--health", "--node", $"{address},{nobody}");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains($"{new Uri(nobody)} unreachable: Unavailable", missing.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_anchor_a_follower_forwards_counts_once_in_the_consortium_on_the_member_that_answered_the_client()
    {
        await using var consortium = await InProcessConsortium.StartAsync(3);
        var leader = await consortium.WaitForLeaderAsync(TimeSpan.FromSeconds(20));
        var follower = (leader + 1) % 3;
        await consortium.Client(follower).AnchorAsync(consortium.Anchor(RandomNumberGenerator.GetBytes(32), RandomNumberGenerator.GetBytes(32)));
        await consortium.Client(leader).AnchorAsync(consortium.Anchor(RandomNumberGenerator.GetBytes(32)));

        var activities = Enumerable.Range(0, 3).Select(i => consortium.Host(i).Node.Metrics!.Activity()).ToArray();
        Assert.Equal(1UL, activities[follower].Anchors);
        Assert.Equal(2UL, activities[follower].Digests);
        Assert.Equal(1UL, activities[leader].Anchors);
        Assert.Equal(1UL, activities[leader].Digests);
        Assert.Equal(2UL, (ulong)activities.Sum(activity => (long)activity.Anchors));
    }

    [Fact]
    public async Task The_health_service_answers_on_every_member_through_a_leader_change()
    {
        await using var consortium = await InProcessConsortium.StartAsync(3);
        var leader = await consortium.WaitForLeaderAsync(TimeSpan.FromSeconds(20));
        var follower = (leader + 1) % 3;
        using var channel = GrpcChannel.ForAddress(consortium.Consortium.Members[follower].Address!);
        var health = new Health.HealthClient(channel);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await health.CheckAsync(new HealthCheckRequest())).Status);

        // The two left must elect: the leader stops only once both vote.
        await consortium.WaitUntilEveryMemberVotesAsync(TimeSpan.FromSeconds(20));
        await consortium.StopAsync(leader);
        var answers = new List<HealthCheckResponse.Types.ServingStatus>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        var oldLeader = consortium.Consortium.Members[leader].Id;
        while (consortium.Host(follower).Node.Replica!.LeaderName is not { } name || name == oldLeader)
        {
            Assert.True(DateTime.UtcNow < deadline, "no new leader in time");
            answers.Add((await health.CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow + TimeSpan.FromSeconds(2))).Status);
            await Task.Delay(20);
        }

        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await health.CheckAsync(new HealthCheckRequest())).Status);
        Assert.DoesNotContain(HealthCheckResponse.Types.ServingStatus.Unknown, answers);
    }
}
