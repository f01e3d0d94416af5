using System.Diagnostics;
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
        var down = Stopwatch.StartNew();
        var failures = 0;
        while (down.Elapsed < TimeSpan.FromSeconds(10))
        {
            Assert.Equal(StatusCode.Unavailable, await CallAsync(client));
            failures++;
            await Task.Delay(100);
        }

        await using var server = await StartServerAsync(port);
        var back = Stopwatch.StartNew();
        StatusCode status;
        while ((status = await CallAsync(client)) == StatusCode.Unavailable && back.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(50);
        }

        // The server has no peer service: an answer of any kind other than Unavailable proves a connection.
        Assert.NotEqual(StatusCode.Unavailable, status);
        Assert.True(back.Elapsed < TimeSpan.FromSeconds(3), $"reached {back.Elapsed.TotalSeconds:0.0} s after the member came back ({failures} calls failed while it was down)");
    }

    private static async Task<StatusCode> CallAsync(Peer.PeerClient client)
    {
        try
        {
            await client.HelloAsync(new Ack(), deadline: DateTime.UtcNow.AddSeconds(1));
            return StatusCode.OK;
        }
        catch (RpcException exception)
        {
            return exception.StatusCode;
        }
    }

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
