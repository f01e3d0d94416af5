using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Ledger.Hostile.Tests.Support;
using Ledger.Sdk.Client;
using Ledger.TestKit;
using Xunit.Abstractions;

namespace Ledger.Hostile.Tests;

/// <summary>
/// Clients that hold connections: slow ones (a byte at a time, in the connection preface or in a request
/// body) and many idle ones. The node keeps serving everyone else, its memory stays bounded, it writes
/// nothing, and the connections it held are released once the clients go.
/// </summary>
[Collection(SingleNodeGroup.Name)]
public sealed class ConnectionTests(SingleNodeFixture fixture, ITestOutputHelper output)
{
    private const int SlowClients = 100;
    private const int SlowBodies = 20;
    private const int HeldConnections = 2_000;
    private static readonly TimeSpan Trickle = TimeSpan.FromMilliseconds(300);

    [Fact]
    public async Task Slow_connection_prefaces_a_byte_at_a_time_do_not_stop_the_node_serving_others()
    {
        var ledger = fixture.Ledger;
        await ledger.RunAsync(TimeSpan.FromSeconds(90), async token =>
        {
            var node = ledger.Node(0);
            var residentBefore = node.ResidentBytes();
            var descriptorsBefore = node.OpenDescriptors();
            var before = await ledger.SnapshotAsync(0, token);
            var sockets = await OpenAsync(ledger.Port(0), SlowClients, token);
            try
            {
                byte[] bytes = [.. Wire.Http2Preface, .. Wire.Http2Frame(0x4, 0, 0, [])];
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(token);
                var closedByNode = 0;
                var trickling = Task.WhenAll(sockets.Select(socket => Task.Run(async () =>
                {
                    foreach (var b in bytes)
                    {
                        try
                        {
                            await socket.SendAsync(new[] { b }, SocketFlags.None, stop.Token);
                            await Task.Delay(Trickle, stop.Token);
                        }
                        catch (SocketException)
                        {
                            Interlocked.Increment(ref closedByNode);
                            return;
                        }
                        catch (OperationCanceledException)
                        {
                            return;
                        }
                    }
                }, CancellationToken.None)));

                var served = await ServeOthersAsync(ledger, () => trickling.IsCompleted, token);
                await trickling;
                output.WriteLine($"{SlowClients} slow prefaces over {bytes.Length * Trickle.TotalSeconds:0} s: {served} calls served meanwhile; {closedByNode} slow connections closed by the node");
                Assert.True(served >= 10, $"only {served} calls served while slow clients held connections");
            }
            finally
            {
                Close(sockets);
            }

            await ledger.AssertStillServingAsync(0, residentBefore, token);
            Assert.Equal(before.TreeSize + 1 + (ulong)AnchorsWhileServing, (await ledger.SnapshotAsync(0, token)).TreeSize);
            await AssertDescriptorsReleasedAsync(node, descriptorsBefore, token);
        });
    }

    [Fact]
    public async Task Request_bodies_a_byte_at_a_time_end_without_an_anchor_and_others_are_served()
    {
        var ledger = fixture.Ledger;
        await ledger.RunAsync(TimeSpan.FromSeconds(90), async token =>
        {
            var node = ledger.Node(0);
            var residentBefore = node.ResidentBytes();
            var before = await ledger.SnapshotAsync(0, token);
            var message = LedgerClient.BuildAnchorRequest(ledger.Consortium.Origin, ledger.Issuer, [RandomNumberGenerator.GetBytes(32)], includeReceipts: false);
            var body = Wire.Frame(Google.Protobuf.MessageExtensions.ToByteArray(message));
            var slow = Enumerable.Range(0, SlowBodies).Select(_ =>
                Wire.PostAsync(ledger.Addresses[0], "/ledger.v1.Ledger/Anchor", new TrickleContent(body[..60], Trickle), token)).ToArray();
            var all = Task.WhenAll(slow);
            var served = await ServeOthersAsync(ledger, () => all.IsCompleted, token);
            var ends = await all;
            output.WriteLine($"{SlowBodies} slow bodies: {served} calls served meanwhile; ends: " +
                string.Join(", ", ends.GroupBy(end => end.ToString()).Select(g => $"{g.Key} x{g.Count()}")));
            Assert.True(served >= 10, $"only {served} calls served while slow bodies were sent");
            // A body cut short is never a message: a status other than OK, or a reset stream.
            Assert.All(ends, end => Assert.True(end.Reset || end.Status != Grpc.Core.StatusCode.OK, end.ToString()));

            Assert.Equal(before.TreeSize + (ulong)AnchorsWhileServing, (await ledger.SnapshotAsync(0, token)).TreeSize);
            await ledger.AssertStillServingAsync(0, residentBefore, token);
        });
    }

    [Fact]
    public async Task Two_thousand_held_connections_do_not_stop_the_node_serving_and_are_released()
    {
        var ledger = fixture.Ledger;
        await ledger.RunAsync(TimeSpan.FromSeconds(120), async token =>
        {
            var node = ledger.Node(0);
            var residentBefore = node.ResidentBytes();
            var descriptorsBefore = node.OpenDescriptors();
            var before = await ledger.SnapshotAsync(0, token);
            var sockets = await OpenAsync(ledger.Port(0), HeldConnections, token);
            try
            {
                // Wait (bounded) until the node has accepted them all: they are held, not queued in the kernel.
                for (var attempt = 0; attempt < 100 && node.OpenDescriptors() < descriptorsBefore + HeldConnections; attempt++)
                {
                    await Task.Delay(100, token);
                }

                // Each one a plausible idle HTTP/2 client: preface and settings, then nothing.
                byte[] hello = [.. Wire.Http2Preface, .. Wire.Http2Frame(0x4, 0, 0, [])];
                foreach (var socket in sockets)
                {
                    await socket.SendAsync(hello, SocketFlags.None, token);
                }

                var held = node.OpenDescriptors() - descriptorsBefore;
                var resident = node.ResidentBytes();
                var served = await ServeOthersAsync(ledger, () => false, token);
                output.WriteLine($"{HeldConnections} connections: node holds {held} more descriptors, resident {residentBefore >> 20} -> {resident >> 20} MiB; {served} calls served meanwhile");
                Assert.True(served >= 10);
                Assert.True(resident - residentBefore < HostileLedger.ResidentGrowthMax, $"resident grew from {residentBefore >> 20} to {resident >> 20} MiB");
            }
            finally
            {
                Close(sockets);
            }

            await AssertDescriptorsReleasedAsync(node, descriptorsBefore, token);
            Assert.Equal(before.TreeSize + (ulong)AnchorsWhileServing, (await ledger.SnapshotAsync(0, token)).TreeSize);
            await ledger.AssertStillServingAsync(0, residentBefore, token);
        });
    }

    [Fact]
    public async Task Many_large_unfinished_request_bodies_stay_within_the_memory_bound()
    {
        var ledger = fixture.Ledger;
        await ledger.RunAsync(TimeSpan.FromSeconds(90), async token =>
        {
            var node = ledger.Node(0);
            var residentBefore = node.ResidentBytes();
            var before = await ledger.SnapshotAsync(0, token);
            // Bodies just under the message limit, all but the last bytes sent, then held open; on two connections.
            const int streams = 300;
            var declared = (uint)(4 * 1024 * 1024 - 64);
            var body = Wire.Frame(new byte[declared - 16], declaredLength: declared);
            using var release = CancellationTokenSource.CreateLinkedTokenSource(token);
            using var first = new HttpClient(new SocketsHttpHandler());
            using var second = new HttpClient(new SocketsHttpHandler());
            var calls = Enumerable.Range(0, streams).Select(i =>
                Wire.PostAsync(i % 2 == 0 ? first : second, ledger.Addresses[0], "/ledger.v1.Ledger/Anchor", new HeldContent(body, release.Token), token)).ToArray();
            var peak = residentBefore;
            for (var i = 0; i < 40; i++)
            {
                await Task.Delay(250, token);
                peak = Math.Max(peak, node.ResidentBytes());
            }

            var served = await ServeOthersAsync(ledger, () => true, token);
            await release.CancelAsync();
            var ends = await Task.WhenAll(calls);
            output.WriteLine($"{streams} unfinished 4 MiB bodies: resident {residentBefore >> 20} MiB before, {peak >> 20} MiB at most; {served} calls served; ends: " +
                string.Join(", ", ends.GroupBy(end => end.ToString()).Select(g => $"{g.Key} x{g.Count()}")));
            Assert.True(peak - residentBefore < HostileLedger.ResidentGrowthMax, $"resident grew from {residentBefore >> 20} to {peak >> 20} MiB");
            Assert.Equal(before.TreeSize + (ulong)AnchorsWhileServing, (await ledger.SnapshotAsync(0, token)).TreeSize);
            await ledger.AssertStillServingAsync(0, residentBefore, token);
        });
    }

    /// <summary>Anchors <see cref="ServeOthersAsync"/> makes (each one fresh digest).</summary>
    private const int AnchorsWhileServing = 3;

    /// <summary>
    /// Another client's calls while the attack runs: status calls until <paramref name="done"/> (at most 40,
    /// at least 10) and <see cref="AnchorsWhileServing"/> anchors; every one must succeed. Returns how many.
    /// </summary>
    private static async Task<int> ServeOthersAsync(HostileLedger ledger, Func<bool> done, CancellationToken cancellationToken)
    {
        using var client = new LedgerClient([ledger.Addresses[0]], new LedgerClientOptions(TimeSpan.FromSeconds(10), 1, TimeSpan.FromMilliseconds(50)));
        var served = 0;
        for (var i = 0; i < AnchorsWhileServing; i++)
        {
            await client.AnchorAsync(ledger.Issuer, [RandomNumberGenerator.GetBytes(32)], includeReceipts: false, cancellationToken);
            served++;
        }

        for (var i = 0; i < 40 && (i < 10 || !done()); i++)
        {
            await client.GetStatusAsync(cancellationToken);
            served++;
            await Task.Delay(250, cancellationToken);
        }

        return served;
    }

    private static async Task<List<Socket>> OpenAsync(int port, int count, CancellationToken cancellationToken)
    {
        var sockets = new List<Socket>(count);
        try
        {
            for (var opened = 0; opened < count; opened += 100)
            {
                var batch = Enumerable.Range(0, Math.Min(100, count - opened)).Select(_ => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)).ToArray();
                sockets.AddRange(batch);
                await Task.WhenAll(batch.Select(socket => socket.ConnectAsync(IPAddress.Loopback, port, cancellationToken).AsTask()));
            }

            return sockets;
        }
        catch
        {
            Close(sockets);
            throw;
        }
    }

    private static void Close(List<Socket> sockets)
    {
        foreach (var socket in sockets)
        {
            socket.Dispose();
        }
    }

    /// <summary>Once the clients are gone the node holds about as many descriptors as before (polled, bounded).</summary>
    private static async Task AssertDescriptorsReleasedAsync(LedgerProcess node, int before, CancellationToken cancellationToken)
    {
        const int slack = 64;
        var now = node.OpenDescriptors();
        var watch = Stopwatch.StartNew();
        for (var attempt = 0; attempt < 150 && now > before + slack; attempt++)
        {
            await Task.Delay(200, cancellationToken);
            now = node.OpenDescriptors();
        }

        Assert.True(now <= before + slack, $"the node still holds {now} descriptors ({before} before) {watch.Elapsed.TotalSeconds:0} s after the clients closed");
    }

    /// <summary>A request body sent at once, then held open until released.</summary>
    private sealed class HeldContent(byte[] bytes, CancellationToken release) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            await SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            await stream.WriteAsync(bytes, cancellationToken);
            await stream.FlushAsync(cancellationToken);
            await Task.Delay(Timeout.Infinite, release);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = -1;
            return false;
        }
    }

    /// <summary>A request body sent a byte at a time.</summary>
    private sealed class TrickleContent(byte[] bytes, TimeSpan interval) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            await SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            foreach (var b in bytes)
            {
                await stream.WriteAsync(new[] { b }, cancellationToken);
                await stream.FlushAsync(cancellationToken);
                await Task.Delay(interval, cancellationToken);
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = -1;
            return false;
        }
    }
}
