using System.Net;
using Grpc.Core;
using Ledger.Replication.Protos;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Ledger.TestKit;

namespace Ledger.Replication.Tests;

/// <summary>
/// The channels members keep to each other for unary calls (cosigning, reads, the held-vote probe,
/// forwarding). Run alone: the other tests of this process run members whose work could delay this
/// one's timers.
/// </summary>
[Collection(RunAlone.Name)]
public sealed class ChannelCacheTests
{
    /// <summary>
    /// A member that was down for a while is reached again soon after it comes back, however long it
    /// was down: a restarted member's cosignatures, votes held at a new member's first start and
    /// forwarded anchors would otherwise wait for it. Two settings bound the wait. The connect timeout
    /// (<see cref="GrpcPeerTransport.PeerConnectTimeout"/>, 3 s) ends each cycle of failed connects and
    /// their backoff, after which the next call connects at once; the capped backoff
    /// (<see cref="Ledger.Sdk.Client.ReconnectBackoff"/>) spaces the tries within a cycle by 1 s at most.
    /// Without either, gRPC's default backoff (1 s growing by 1.6 per failure up to 2 minutes) left
    /// this test waiting 0.2 and 5.7 s; without the cap only, 0.6-1.0 s (bounded by the 3 s cycle),
    /// against 0.1-0.7 s with both. The SDK's channels have no connect timeout, and
    /// <c>SdkReconnectTests</c> is the test that fails without the cap.
    /// </summary>
    [Fact]
    public async Task A_member_that_comes_back_is_reached_within_about_a_second_however_long_it_was_down()
    {
        var port = LoopbackPorts.Free();
        var address = $"http://127.0.0.1:{port}";
        using var channels = new ChannelCache();
        var client = new Peer.PeerClient(channels.For(address));

        // Down for 10 s while called every 100 ms: gRPC's default backoff would wait about 6 s more by then.
        var whileDown = await Reconnection.CallForAsync(() => CallAsync(client), TimeSpan.FromSeconds(10));
        Assert.All(whileDown, status => Assert.Equal(StatusCode.Unavailable, status));

        await using var server = await StartServerAsync(port);
        var (elapsed, answered, refusals) = await Reconnection.UntilAnsweredAsync(() => CallAsync(client), TimeSpan.FromSeconds(10));

        // The server has no peer service: an answer of any kind other than Unavailable proves a connection.
        Assert.NotEqual(StatusCode.Unavailable, answered);
        Assert.True(
            elapsed < TimeSpan.FromSeconds(3),
            $"reached {elapsed.TotalSeconds:0.0} s after the member came back ({whileDown.Count} calls failed while it was down); refused meanwhile:\n{string.Join('\n', refusals)}");
    }

    private static Task<Ack> CallAsync(Peer.PeerClient client) => client.HelloAsync(new Ack(), deadline: DateTime.UtcNow.AddSeconds(1)).ResponseAsync;

    private static async Task<WebApplication> StartServerAsync(int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(o => o.Listen(IPAddress.Loopback, port, l => l.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        var app = builder.Build();
        await app.StartAsync();
        return app;
    }
}

/// <summary>Tests that run after all others of this assembly, one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RunAlone
{
    public const string Name = "alone";
}
