using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Grpc.Core;
using Ledger.Node.Tests.Support;
using Ledger.Sdk.Client;
using Ledger.Sdk.Protos.V1;

namespace Ledger.Node.Tests;

public sealed class RestartTests
{
    [Fact]
    public async Task Nonces_leaves_and_checkpoints_survive_a_restart()
    {
        var first = await InProcessNode.StartAsync();
        InProcessNode? second = null;
        try
        {
            var digests = Enumerable.Range(0, 3).Select(_ => RandomNumberGenerator.GetBytes(32)).ToArray();
            var request = LedgerClient.BuildAnchorRequest(first.Origin, first.IssuerKey, digests, includeReceipts: true);
            var anchored = await first.Client.AnchorAsync(request);
            var checkpointBefore = (await first.Client.GetCheckpointAsync(new GetCheckpointRequest())).Checkpoint;

            second = await first.RestartAsync();
            var replay = await Assert.ThrowsAsync<RpcException>(async () => await second.Client.AnchorAsync(request));
            Assert.Equal(StatusCode.AlreadyExists, replay.StatusCode);
            Assert.Equal(anchored.TreeSize, second.Host.Node.State.TreeSize);
            Assert.Equal(checkpointBefore, (await second.Client.GetCheckpointAsync(new GetCheckpointRequest())).Checkpoint);

            var receipt = await second.Client.GetReceiptAsync(new GetReceiptRequest { Digest = Google.Protobuf.ByteString.CopyFrom(digests[1]) });
            Assert.Equal(anchored.LeafIndices[1], receipt.LeafIndex);
            var again = await second.Client.AnchorAsync(LedgerClient.BuildAnchorRequest(second.Origin, second.IssuerKey, [digests[1], RandomNumberGenerator.GetBytes(32)], false));
            Assert.Equal([anchored.LeafIndices[1], anchored.TreeSize], again.LeafIndices);
            Assert.Equal([true, false], again.Existed);
        }
        finally
        {
            await (second ?? first).DisposeAsync();
        }
    }

    /// <summary>
    /// An SDK client whose node was down for a while reaches it within about a second of its restart.
    /// gRPC's default reconnect backoff would by then wait several seconds more (1 s, growing by 1.6
    /// per failed connect, up to 2 minutes), refusing every call meanwhile.
    /// </summary>
    [Fact]
    public async Task An_sdk_client_reaches_its_node_again_within_about_a_second_of_a_restart_after_a_long_stop()
    {
        var port = FreePort();
        var first = await InProcessNode.StartAsync("--listen", $"http://127.0.0.1:{port}");
        InProcessNode? second = null;
        try
        {
            using var client = new LedgerClient([new Uri($"http://127.0.0.1:{port}")], new LedgerClientOptions(TimeSpan.FromSeconds(1), 1, TimeSpan.Zero));
            Assert.Equal(0UL, (await client.GetStatusAsync(CancellationToken.None)).TreeSize);
            await first.StopAsync();

            var down = Stopwatch.StartNew();
            while (down.Elapsed < TimeSpan.FromSeconds(10))
            {
                var refused = await Assert.ThrowsAsync<RpcException>(() => client.GetStatusAsync(CancellationToken.None));
                Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
                await Task.Delay(100);
            }

            second = await first.StartAgainAsync();
            var back = Stopwatch.StartNew();
            while (true)
            {
                try
                {
                    await client.GetStatusAsync(CancellationToken.None);
                    break;
                }
                catch (RpcException exception) when (exception.StatusCode == StatusCode.Unavailable && back.Elapsed < TimeSpan.FromSeconds(10))
                {
                    await Task.Delay(50);
                }
            }

            Assert.True(back.Elapsed < TimeSpan.FromSeconds(3), $"reached {back.Elapsed.TotalSeconds:0.0} s after the restart");
        }
        finally
        {
            await (second ?? first).DisposeAsync();
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
