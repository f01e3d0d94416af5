using System.Collections.Concurrent;
using System.Net;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Ledger.Consensus;
using Ledger.Replication.Protos;
using Ledger.Sdk;
using Ledger.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Ledger.Replication.Tests;

public sealed class PeerTransportTests
{
    private static PeerContext Context(string otherAddress)
    {
        var a = SignerKey.Generate("member-a");
        var b = SignerKey.Generate("member-b");
        var consortium = new Consortium("ledger.test/tls", 2,
            [new ConsortiumMember("member-a", a.Verifier, "https://127.0.0.1:1"), new ConsortiumMember("member-b", b.Verifier, otherAddress)], []);
        return new PeerContext(consortium, a, () => 0, TimeSpan.FromSeconds(30));
    }

    [Theory]
    [InlineData("http://10.0.0.2:7400")]
    [InlineData("http://ledger.example.org:7400")]
    public void Plain_http_to_another_machine_is_refused(string address)
    {
        var error = Assert.Throws<FormatException>(() => new GrpcPeerTransport(Context(address)));
        Assert.Contains("peers off this machine must use https://", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://127.0.0.1:7400")]
    [InlineData("https://10.0.0.2:7400")]
    public async Task Loopback_http_and_any_https_are_accepted(string address)
    {
        await using var transport = new GrpcPeerTransport(Context(address));
        Assert.All(transport.DroppedByMember(), dropped => Assert.Equal((0L, 0L), (dropped.QueueFull, dropped.Stale)));
    }

    [Fact]
    public async Task A_refusal_with_a_higher_term_still_answers_the_waiting_vote_request()
    {
        var router = new VoteResponseRouter();
        var waiter = router.Register(candidate: 7, MessageKind.VoteResponse)!;
        var replaced = router.Register(candidate: 7, MessageKind.VoteResponse)!;
        router.Unregister(7, MessageKind.VoteResponse, waiter);
        Assert.True(router.TryComplete(new Message { Kind = MessageKind.VoteResponse, To = 7, Term = 99, Reject = true }));
        Assert.True(replaced.Task.IsCompletedSuccessfully);
        Assert.Equal(99UL, (await replaced.Task).Term);
        Assert.False(waiter.Task.IsCompleted);
    }

    [Fact]
    public async Task Stream_messages_queued_while_a_member_was_down_are_not_sent_when_it_comes_back()
    {
        var keys = new[] { SignerKey.Generate("member-a"), SignerKey.Generate("member-b") };
        var ports = LoopbackPorts.Free(2).ToList();
        var consortium = new Consortium("ledger.test/stale", 2,
            [.. keys.Select((k, i) => new ConsortiumMember(k.Name, k.Verifier, $"http://127.0.0.1:{ports[i]}"))], []);
        var a = new PeerContext(consortium, keys[0], NowMs, TimeSpan.FromSeconds(30));
        var b = new PeerContext(consortium, keys[1], NowMs, TimeSpan.FromSeconds(30));
        await using var transport = new GrpcPeerTransport(a);
        transport.Start();

        // member-b has never been up: these wait in member-a's queue.
        SendHeartbeats(transport, a, b, 1, 40);
        var firstLife = new ConcurrentQueue<RaftMessage>();
        await using (var server = await RecordingPeerServer.StartAsync(b, ports[1], firstLife))
        {
            await UntilReceivedAsync(transport, a, b, firstLife, fromCommit: 1_000);
        }

        // It stops; what is sent meanwhile waits again, and must not reach its next life either.
        SendHeartbeats(transport, a, b, 41, 80);
        var secondLife = new ConcurrentQueue<RaftMessage>();
        await using (var server = await RecordingPeerServer.StartAsync(b, ports[1], secondLife))
        {
            await UntilReceivedAsync(transport, a, b, secondLife, fromCommit: 2_000);
        }

        Assert.DoesNotContain(firstLife, m => m.Commit < 1_000);
        Assert.DoesNotContain(secondLife, m => m.Commit < 2_000);
        var stale = transport.DroppedByMember().Single().Stale;
        Assert.True(stale >= 40, $"{stale} messages were counted as stale");
        // Messages sent while the stream was open arrive, in order.
        Assert.Equal(firstLife.Select(m => m.Commit).Order(), firstLife.Select(m => m.Commit));
        Assert.Equal(secondLife.Select(m => m.Commit).Order(), secondLife.Select(m => m.Commit));
    }

    private static ulong NowMs() => (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    private static Message Heartbeat(PeerContext from, PeerContext to, ulong commit) =>
        new() { Kind = MessageKind.Heartbeat, From = from.SelfId, To = to.SelfId, Term = 1, Commit = commit };

    private static void SendHeartbeats(GrpcPeerTransport transport, PeerContext from, PeerContext to, ulong first, ulong last)
    {
        for (var commit = first; commit <= last; commit++)
        {
            transport.Send(Heartbeat(from, to, commit));
        }
    }

    /// <summary>Sends a heartbeat every 50 ms, numbered from <paramref name="fromCommit"/>, until one of them arrives.</summary>
    private static async Task UntilReceivedAsync(GrpcPeerTransport transport, PeerContext from, PeerContext to, ConcurrentQueue<RaftMessage> received, ulong fromCommit)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        for (var commit = fromCommit; !received.Any(m => m.Commit >= fromCommit); commit++)
        {
            Assert.True(DateTime.UtcNow < deadline, $"no heartbeat numbered from {fromCommit} arrived within 20 s");
            transport.Send(Heartbeat(from, to, commit));
            await Task.Delay(50);
        }
    }

    /// <summary>The peer service of one member on 127.0.0.1, recording every message its Replicate streams carry.</summary>
    private sealed class RecordingPeerServer : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private RecordingPeerServer(WebApplication app) => _app = app;

        public static async Task<RecordingPeerServer> StartAsync(PeerContext peers, int port, ConcurrentQueue<RaftMessage> received)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(o => o.Listen(IPAddress.Loopback, port, l => l.Protocols = HttpProtocols.Http2));
            builder.Services.AddGrpc(grpc => grpc.Interceptors.Add<Recorder>(received));
            builder.Services.AddSingleton(peers);
            var app = builder.Build();
            app.MapGrpcService<PeerService>();
            await app.StartAsync();
            return new RecordingPeerServer(app);
        }

        public async ValueTask DisposeAsync()
        {
            using (var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(2)))
            {
                await _app.StopAsync(deadline.Token);
            }

            await _app.DisposeAsync();
        }

        private sealed class Recorder(ConcurrentQueue<RaftMessage> received) : Interceptor
        {
            public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
                IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation) =>
                continuation(new RecordingReader<TRequest>(requestStream, received), responseStream, context);
        }

        private sealed class RecordingReader<T>(IAsyncStreamReader<T> inner, ConcurrentQueue<RaftMessage> received) : IAsyncStreamReader<T>
        {
            public T Current => inner.Current;

            public async Task<bool> MoveNext(CancellationToken cancellationToken)
            {
                var moved = await inner.MoveNext(cancellationToken);
                if (moved && inner.Current is RaftMessage message)
                {
                    received.Enqueue(message);
                }

                return moved;
            }
        }
    }
}
