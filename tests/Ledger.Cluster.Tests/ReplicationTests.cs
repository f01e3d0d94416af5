using Ledger.Cluster.Tests.Support;
using System.Text.Json.Nodes;
using Ledger.Sdk;
using Ledger.TestKit;

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
            await CheckWithTheCommandLineToolAsync(cluster, acknowledged, size, token);
            await stopPolling.CancelAsync();
            await polling;
            Assert.NotEqual(0, collector.Count);
            Assert.Equal(cluster.MemberIds.Order(StringComparer.Ordinal), collector.PolledFrom.Order(StringComparer.Ordinal));
            var problems = await collector.ProblemsAsync(new CheckpointVerifier(cluster.Consortium), cluster.Client(0), token);
            Assert.True(problems.Count == 0, string.Join("\n", problems));
        });
    }

    /// <summary>
    /// <c>ledger status --json</c> against the leader lists every member with its role and term;
    /// <c>ledger verify</c> accepts a receipt from each member offline and refuses it for another digest.
    /// </summary>
    private static async Task CheckWithTheCommandLineToolAsync(LedgerCluster cluster, IReadOnlyList<Acknowledged> acknowledged, ulong size, CancellationToken cancellationToken)
    {
        var everyone = Enumerable.Range(0, cluster.Count).ToArray();
        var leader = await cluster.WaitForLeaderAsync(everyone, LedgerCluster.LeaderTimeout, cancellationToken);
        var status = await ProcessRunner.RunLedgerAsync("status", "--node", cluster.Addresses[leader].ToString(), "--json");
        Assert.True(status.ExitCode == 0, status.ToString());
        var json = JsonNode.Parse(status.StandardOutput)!;
        Assert.Equal(cluster.MemberIds[leader], (string?)json["leader"]);
        Assert.Equal(size, (ulong)json["treeSize"]!);
        var members = json["members"]!.AsArray();
        Assert.Equal(cluster.MemberIds, members.Select(m => (string)m!["id"]!).Order(StringComparer.Ordinal));
        Assert.All(members, m => Assert.Equal(cluster.Addresses[cluster.IndexOf((string)m!["id"]!)].ToString().TrimEnd('/'), (string?)m!["address"]));
        Assert.Equal([cluster.MemberIds[leader]], members.Where(m => (string?)m!["role"] == "leader").Select(m => (string)m!["id"]!));
        Assert.All(members.Where(m => (string)m!["id"]! != cluster.MemberIds[leader]), m => Assert.Equal("follower", (string?)m!["role"]));
        Assert.Single(members.Select(m => (ulong)m!["term"]!).Distinct());
        Assert.All(members, m => Assert.False((bool)m!["votesHeld"]!));

        var receiptsFolder = Path.Combine(cluster.DirectoryPath, "receipts");
        Directory.CreateDirectory(receiptsFolder);
        foreach (var member in everyone)
        {
            var ack = acknowledged[member * (acknowledged.Count / cluster.Count)];
            var receipt = (await cluster.Client(member).GetReceiptsAsync([ack.Digest], ack.Issuer, cancellationToken))[0];
            Assert.NotNull(receipt);
            var path = Path.Combine(receiptsFolder, $"{cluster.MemberIds[member]}.tlog-proof");
            await File.WriteAllTextAsync(path, receipt, cancellationToken);
            var valid = await ProcessRunner.RunLedgerAsync("verify", path, "--consortium", cluster.ConsortiumPath, "--digest", Convert.ToHexStringLower(ack.Digest));
            Assert.True(valid.ExitCode == 0, valid.ToString());
            Assert.StartsWith("VALID", valid.StandardOutput, StringComparison.Ordinal);
            var other = acknowledged[(member * (acknowledged.Count / cluster.Count)) + 1].Digest;
            var invalid = await ProcessRunner.RunLedgerAsync("verify", path, "--consortium", cluster.ConsortiumPath, "--digest", Convert.ToHexStringLower(other));
            Assert.True(invalid.ExitCode == 1, invalid.ToString());
            Assert.StartsWith("INVALID", invalid.StandardOutput, StringComparison.Ordinal);
        }
    }
}
