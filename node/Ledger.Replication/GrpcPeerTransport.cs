using System.Diagnostics;
using System.Threading.Channels;
using Grpc.Core;
using Grpc.Net.Client;
using Ledger.Consensus;
using Ledger.Replication.Protos;

namespace Ledger.Replication;

/// <summary>
/// Sends the core's messages to the other members over the peer protocol: one link per member with
/// a bounded queue (a full queue drops: Raft retransmits), one long-lived Replicate stream for
/// appends, heartbeats and their acknowledgements, unary calls with deadlines for votes and
/// leadership transfer. Every call carries this member's handshake and checks the callee's answer.
/// A stream message queued before the link's current stream opened is dropped rather than sent:
/// it was meant for a member that was down or for its previous process, and Raft sends what is
/// still needed again. Delivered late, a down member's backlog of heartbeats made the leader answer
/// each with a full append, gigabytes that the member had to read before it could catch up.
/// </summary>
internal sealed class GrpcPeerTransport : IPeerSender, IAsyncDisposable
{
    /// <summary>Messages queued toward one member before new ones are dropped.</summary>
    public const int MessagesQueuedPerPeerMax = 4_096;

    /// <summary>Largest peer message, in bytes (an append of a few large batches).</summary>
    public const int PeerMessageBytesMax = 64 * 1024 * 1024;

    /// <summary>Deadline of a vote or transfer call.</summary>
    public static readonly TimeSpan UnaryDeadline = TimeSpan.FromSeconds(1);

    /// <summary>Longest wait before reconnecting to a member that is down.</summary>
    public static readonly TimeSpan ReconnectDelayMax = TimeSpan.FromSeconds(1);

    /// <summary>How long opening a connection to a member may take before the stream tries again.</summary>
    public static readonly TimeSpan PeerConnectTimeout = TimeSpan.FromSeconds(3);

    private readonly PeerContext _peers;
    private readonly Dictionary<ulong, PeerLink> _links = [];
    private readonly CancellationTokenSource _stop = new();

    /// <param name="peers">This member's peer context.</param>
    /// <param name="allowPlaintext">Allow plain http:// member addresses off loopback (a private network the operator trusts, never the internet).</param>
    public GrpcPeerTransport(PeerContext peers, bool allowPlaintext = false)
    {
        _peers = peers;
        foreach (var (id, member) in peers.MembersById)
        {
            if (id != peers.SelfId)
            {
                if (!allowPlaintext)
                {
                    RequireTlsOffLoopback(member);
                }
                _links[id] = new PeerLink(this, id, member.Id);
            }
        }
    }

    /// <summary>Per other member: messages dropped on its full queue, and stale stream messages dropped.</summary>
    public IEnumerable<(string Member, long QueueFull, long Stale)> DroppedByMember() =>
        _links.Values.Select(l => (l.MemberName, Interlocked.Read(ref l.Dropped), Interlocked.Read(ref l.Stale)));

    public void Start()
    {
        foreach (var link in _links.Values)
        {
            link.Worker = Task.Run(() => link.RunAsync(_stop.Token));
        }
    }

    public void Send(in Message message)
    {
        if (message.Kind is MessageKind.VoteResponse or MessageKind.PreVoteResponse)
        {
            // The answer travels back on the candidate's RequestVote call, if it still waits.
            _peers.Votes.TryComplete(message);
            return;
        }

        if (_links.TryGetValue(message.To, out var link) && !link.Queue.Writer.TryWrite(new Queued(message, Stopwatch.GetTimestamp())))
        {
            Interlocked.Increment(ref link.Dropped);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        foreach (var link in _links.Values)
        {
            link.Queue.Writer.TryComplete();
            if (link.Worker is not null)
            {
                await link.Worker.ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }

        _stop.Dispose();
    }

    /// <summary>
    /// The handshake authenticates a call's start, not its bytes: between machines only TLS keeps an
    /// on-path attacker from injecting into an authenticated stream, so plain http is loopback only.
    /// </summary>
    private static void RequireTlsOffLoopback(Ledger.Sdk.ConsortiumMember member)
    {
        if (member.Address is null)
        {
            return; // found by discovery, over the node's own scheme
        }

        var uri = new Uri(member.Address);
        if (uri.Scheme != "https" && !(uri.IsLoopback || (System.Net.IPAddress.TryParse(uri.Host, out var ip) && System.Net.IPAddress.IsLoopback(ip))))
        {
            throw new FormatException($"member '{member.Id}' has the address {member.Address}: peers off this machine must use https://");
        }
    }

    private (Metadata Headers, byte[] Nonce) CallerHeaders(string memberName)
    {
        var (header, nonce) = PeerHandshake.CallerHeader(_peers.MemberKey, _peers.Consortium.Origin, memberName, _peers.NowMs());
        return (new Metadata { { PeerHandshake.HeaderName, header } }, nonce);
    }

    private void CheckCallee(Metadata responseHeaders, byte[] nonce, string memberName)
    {
        if (!_peers.Authenticator.TryVerifyCallee(responseHeaders.GetValue(PeerHandshake.HeaderName), nonce, out var identity, out var error)
            || identity!.MemberId != memberName)
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, $"member at the address of '{memberName}' failed the handshake: {error}"));
        }
    }

    /// <summary>A message waiting for its link, with the <see cref="Stopwatch"/> timestamp of its queueing.</summary>
    private readonly record struct Queued(Message Message, long QueuedAt);

    private sealed class PeerLink(GrpcPeerTransport transport, ulong id, string memberName)
    {
        public long Dropped;
        public long Stale;

        public string MemberName => memberName;

        public Channel<Queued> Queue { get; } = Channel.CreateBounded<Queued>(new BoundedChannelOptions(MessagesQueuedPerPeerMax)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.DropWrite,
        });

        public Task? Worker { get; set; }

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            var delay = TimeSpan.FromMilliseconds(50);
            while (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    await PumpAsync(cancellationToken);
                    return;
                }
                catch (Exception) when (!cancellationToken.IsCancellationRequested)
                {
                    // Whatever broke the link (the member is down, a handshake failed, a stream reset),
                    // reconnect after a capped back-off; messages lost meanwhile are retransmitted by Raft.
                    await Task.Delay(delay, cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
                    delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, ReconnectDelayMax.Ticks));
                }
            }
        }

        private async Task PumpAsync(CancellationToken cancellationToken)
        {
            // Read at each connection: a member without an address in the file may be discovered later.
            var address = transport._peers.AddressOf(memberName)
                ?? throw new InvalidOperationException($"no address known for {memberName} yet");
            using var channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions
            {
                MaxSendMessageSize = PeerMessageBytesMax,
                MaxReceiveMessageSize = PeerMessageBytesMax,
                // A member that moved (or whose host is gone) must not hold the stream for the operating
                // system's connect timeout (about two minutes): the next try reads its address again.
                HttpHandler = new SocketsHttpHandler { ConnectTimeout = PeerConnectTimeout, EnableMultipleHttp2Connections = true },
            });
            var client = new Peer.PeerClient(channel);
            // Opened before anything is read from the queue, so that its opening tells what is stale.
            using var stream = await OpenStreamAsync(client, cancellationToken);
            var openedAt = Stopwatch.GetTimestamp();
            await foreach (var (message, queuedAt) in Queue.Reader.ReadAllAsync(cancellationToken))
            {
                switch (message.Kind)
                {
                    case MessageKind.Vote or MessageKind.PreVote:
                        _ = Task.Run(() => RequestVoteAsync(client, message, cancellationToken), cancellationToken);
                        break;
                    case MessageKind.TimeoutNow:
                        _ = Task.Run(() => TimeoutNowAsync(client, message, cancellationToken), cancellationToken);
                        break;
                    case var _ when queuedAt < openedAt:
                        Interlocked.Increment(ref Stale);
                        break;
                    default:
                        await stream.RequestStream.WriteAsync(RaftMessageCodec.ToProto(message), cancellationToken);
                        break;
                }
            }
        }

        private async Task<AsyncDuplexStreamingCall<RaftMessage, RaftMessage>> OpenStreamAsync(Peer.PeerClient client, CancellationToken cancellationToken)
        {
            var (headers, nonce) = transport.CallerHeaders(memberName);
            var call = client.Replicate(headers, cancellationToken: cancellationToken);
            try
            {
                transport.CheckCallee(await call.ResponseHeadersAsync, nonce, memberName);
                return call;
            }
            catch
            {
                call.Dispose();
                throw;
            }
        }

        private async Task RequestVoteAsync(Peer.PeerClient client, Message message, CancellationToken cancellationToken)
        {
            try
            {
                var (headers, nonce) = transport.CallerHeaders(memberName);
                using var call = client.RequestVoteAsync(RaftMessageCodec.ToProto(message), headers, DateTime.UtcNow + UnaryDeadline, cancellationToken);
                transport.CheckCallee(await call.ResponseHeadersAsync, nonce, memberName);
                var answer = await call.ResponseAsync;
                if (answer.Kind != 0 && RaftMessageCodec.TryFromProto(answer, out var response, out _)
                    && response.From == id && response.To == transport._peers.SelfId
                    && response.Kind is MessageKind.VoteResponse or MessageKind.PreVoteResponse)
                {
                    transport._peers.Host?.Deliver(response);
                }
            }
            catch (Exception) when (!cancellationToken.IsCancellationRequested)
            {
                // A lost vote is a lost message: the election times out and retries.
            }
        }

        private async Task TimeoutNowAsync(Peer.PeerClient client, Message message, CancellationToken cancellationToken)
        {
            try
            {
                var (headers, nonce) = transport.CallerHeaders(memberName);
                using var call = client.TimeoutNowAsync(RaftMessageCodec.ToProto(message), headers, DateTime.UtcNow + UnaryDeadline, cancellationToken);
                transport.CheckCallee(await call.ResponseHeadersAsync, nonce, memberName);
                await call.ResponseAsync;
            }
            catch (Exception) when (!cancellationToken.IsCancellationRequested)
            {
                // The transfer times out in the core and leadership stays where it is.
            }
        }
    }
}
