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
    /// A member that was down for a while is reached again within about a second of coming back.
    /// With gRPC's default reconnect backoff (1 s growing by 1.6 per failure up to 2 min) a channel
    /// whose connects kept failing would refuse calls for seconds, and later minutes, after the member
    /// returns: a restarted member's cosignatures, votes held at a new member's first start and
    /// forwarded anchors would wait for it.
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
