using System.Security.Cryptography;
using Grpc.Core;
using Ledger.Cluster.Tests.Support;
using Ledger.Sdk;
using Ledger.Sdk.Client;

namespace Ledger.Cluster.Tests;

/// <summary>The harness itself on a one-member consortium: start, anchor, receipts, pause, kill -9, restart.</summary>
public sealed class HarnessTests
{
    [Fact]
    public async Task One_member_anchors_pauses_restarts_and_keeps_every_receipt()
    {
        await using var cluster = await LedgerCluster.StartAsync(memberCount: 1, issuerCount: 2, CancellationToken.None);
        await cluster.RunAsync(TimeSpan.FromSeconds(60), async token =>
        {
            Assert.True(File.Exists(cluster.ConsortiumPath));
            Assert.Equal(cluster.Consortium.Origin, Consortium.Load(cluster.ConsortiumPath).Origin);
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(cluster.DirectoryPath, "keys", "member-a.key")));
            }

            var status = await cluster.Client(0).GetStatusAsync(token);
            Assert.Equal("member-a", status.Leader);
            Assert.Equal(cluster.Consortium.Origin, status.Origin);

            var load = new AnchorLoad();
            await Task.WhenAll(cluster.Issuers.Select(issuer => load.RunAsync(cluster.All, issuer, loops: 2, digestsPerRequest: 50, requestsPerLoopMax: 2, token)));
            Assert.Empty(load.Errors);
            Assert.Equal(2 * 2 * 2 * 50, load.Acknowledged.Count);

            var collector = new CheckpointCollector();
            await ClusterChecks.WaitForReceiptsAsync(cluster, 0, load.Acknowledged, collector, TimeSpan.FromSeconds(20), token);
            var notAnchored = await cluster.Client(0).GetReceiptsAsync([RandomNumberGenerator.GetBytes(32)], cancellationToken: token);
            Assert.Null(notAnchored[0]);

            // A paused member answers nothing; once resumed it anchors again.
            await cluster.PauseAsync(0, token);
            using (var impatient = new LedgerClient(cluster.Addresses, new LedgerClientOptions(TimeSpan.FromSeconds(2), 1, TimeSpan.FromMilliseconds(50))))
            {
                var refused = await Assert.ThrowsAsync<RpcException>(() => impatient.GetStatusAsync(token));
                Assert.Equal(StatusCode.DeadlineExceeded, refused.StatusCode);
            }

            await cluster.ResumeAsync(0, token);
            await load.RunAsync(cluster.All, cluster.Issuers[0], loops: 1, digestsPerRequest: 10, requestsPerLoopMax: 1, token);

            cluster.Kill(0);
            Assert.True(cluster.Node(0).HasExited);
            await cluster.RestartAsync(0, token);
            await cluster.WaitForLeaderAsync([0], LedgerCluster.LeaderTimeout, token);
            await ClusterChecks.WaitForReceiptsAsync(cluster, 0, load.Acknowledged, collector, TimeSpan.FromSeconds(20), token);
            Assert.NotEqual(0, collector.Count);
            Assert.Empty(await collector.ProblemsAsync(new CheckpointVerifier(cluster.Consortium), cluster.Client(0), token));
        });
    }
}
