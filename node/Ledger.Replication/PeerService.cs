using Grpc.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Ledger.Consensus;
using Ledger.Replication.Protos;
using Ledger.Sdk;

namespace Ledger.Replication;

/// <summary>
/// Everything a member needs to take part in the peer protocol: its key, the consortium, its id
/// map, its authenticator and the host that consumes what peers send.
/// </summary>
internal sealed class PeerContext
{
    public PeerContext(Consortium consortium, SignerKey memberKey, Func<ulong> nowMs, TimeSpan clockSkew)
    {
        Consortium = consortium;
        MemberKey = memberKey;
        NowMs = nowMs;
        MembersById = MemberIds.Index(consortium);
        SelfId = MemberIds.Of(memberKey.Name);
        Invariant.Check(MembersById.ContainsKey(SelfId));
        Authenticator = new PeerAuthenticator(consortium, memberKey.Name, clockSkew, nowMs);
    }

    public Consortium Consortium { get; }

    /// <summary>Budget of log lines for refused peer handshakes: 20 every 10 s for each of the first 16 member names callers claim, 20 more for all others.</summary>
    public KeyedLogBudget RefusalLog { get; } = new(20, TimeSpan.FromSeconds(10), sourcesMax: 16);

    public SignerKey MemberKey { get; }

    public Func<ulong> NowMs { get; }

    public IReadOnlyDictionary<ulong, ConsortiumMember> MembersById { get; }

    public ulong SelfId { get; }

    public PeerAuthenticator Authenticator { get; }

    public VoteResponseRouter Votes { get; } = new();

    /// <summary>Set once the host exists; messages arriving before are dropped.</summary>
    public RaftHost? Host { get; set; }

    /// <summary>Set once the node's state exists; cosign requests before are refused.</summary>
    public ICheckpointCosigner? Cosigner { get; set; }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _discovered = new(StringComparer.Ordinal);

    /// <summary>
    /// Where to reach member <paramref name="memberId"/>: its address in the consortium file, else the
    /// last address discovery found and the member proved with its key, else null. Every call to it
    /// is authenticated anyway; an address only says where to try.
    /// </summary>
    public string? AddressOf(string memberId) =>
        Consortium.FindMember(memberId)?.Address ?? _discovered.GetValueOrDefault(memberId);

    /// <summary>The headers of a call to member <paramref name="memberId"/>, and the nonce its answer must sign.</summary>
    public (Grpc.Core.Metadata Headers, byte[] Nonce) CallHeaders(string memberId)
    {
        var (header, nonce) = PeerHandshake.CallerHeader(MemberKey, Consortium.Origin, memberId, NowMs());
        return (new Grpc.Core.Metadata { { PeerHandshake.HeaderName, header } }, nonce);
    }

    /// <summary>True when the answer's <paramref name="responseHeaders"/> prove it came from member <paramref name="memberId"/>; otherwise says why.</summary>
    public bool AnsweredAs(Grpc.Core.Metadata responseHeaders, byte[] nonce, string memberId, out string error)
    {
        if (!Authenticator.TryVerifyCallee(responseHeaders.GetValue(PeerHandshake.HeaderName), nonce, out var callee, out error))
        {
            return false;
        }

        if (callee!.MemberId != memberId)
        {
            error = $"answered as '{callee.MemberId}', not '{memberId}'";
            return false;
        }

        return true;
    }

    /// <summary>Records a verified address for a member the consortium file gives none.</summary>
    public void SetDiscoveredAddress(string memberId, string address)
    {
        Invariant.Check(Consortium.FindMember(memberId) is not null);
        _discovered[memberId] = address;
    }
}

/// <summary>
/// Lets a voter's answer travel back on the unary call that asked for it: the service registers a
/// waiter for (candidate, response kind, term); the transport hands the core's response to it.
/// </summary>
internal sealed class VoteResponseRouter
{
    /// <summary>Vote requests waiting for their answer at once.</summary>
    public const int WaitersMax = 1_024;

    private readonly Lock _gate = new();

    // Keyed by candidate and response kind, not term: a refusal carries the voter's (higher) term.
    private readonly Dictionary<(ulong To, MessageKind Kind), TaskCompletionSource<Message>> _waiters = [];

    public TaskCompletionSource<Message>? Register(ulong candidate, MessageKind responseKind)
    {
        lock (_gate)
        {
            if (_waiters.Count >= WaitersMax)
            {
                return null;
            }

            var waiter = new TaskCompletionSource<Message>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters[(candidate, responseKind)] = waiter;
            return waiter;
        }
    }

    /// <summary>Forgets <paramref name="waiter"/> unless a newer request of the same candidate replaced it.</summary>
    public void Unregister(ulong candidate, MessageKind responseKind, TaskCompletionSource<Message> waiter)
    {
        lock (_gate)
        {
            if (_waiters.TryGetValue((candidate, responseKind), out var current) && current == waiter)
            {
                _waiters.Remove((candidate, responseKind));
            }
        }
    }

    /// <summary>True when the message answered a waiting vote request.</summary>
    public bool TryComplete(in Message message)
    {
        TaskCompletionSource<Message>? waiter;
        lock (_gate)
        {
            _waiters.Remove((message.To, message.Kind), out waiter);
        }

        return waiter?.TrySetResult(message) ?? false;
    }
}

/// <summary>
/// The server side of the peer protocol (peer.proto). Every call is authenticated first; a refused
/// handshake is logged (event 7301) within <see cref="PeerContext.RefusalLog"/>'s budget, so a
/// flood of outsiders' calls cannot flood the log.
/// </summary>
internal sealed partial class PeerService(PeerContext peers, IHostApplicationLifetime lifetime, ILogger<PeerService> logger) : Peer.PeerBase
{
    /// <summary>How long a vote request waits for this member's answer.</summary>
    public static readonly TimeSpan VoteAnswerWait = TimeSpan.FromMilliseconds(500);

    public override async Task<RaftMessage> Replicate(
        IAsyncStreamReader<RaftMessage> requestStream, IServerStreamWriter<RaftMessage> responseStream, ServerCallContext context)
    {
        var caller = await AuthenticateAsync(context);
        // The stream lives as long as the link; a stopping member ends it so that shutdown does not wait for the peer.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lifetime.ApplicationStopping);
        try
        {
            await foreach (var proto in requestStream.ReadAllAsync(stop.Token))
            {
                peers.Host?.Deliver(Check(proto, caller));
            }
        }
        catch (OperationCanceledException) when (lifetime.ApplicationStopping.IsCancellationRequested)
        {
            // Stopping.
        }

        return new RaftMessage();
    }

    public override async Task<RaftMessage> RequestVote(RaftMessage request, ServerCallContext context)
    {
        var caller = await AuthenticateAsync(context);
        var message = Check(request, caller);
        if (message.Kind is not (MessageKind.Vote or MessageKind.PreVote))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"RequestVote carries votes and pre-votes, not {message.Kind}"));
        }

        var responseKind = message.Kind == MessageKind.Vote ? MessageKind.VoteResponse : MessageKind.PreVoteResponse;
        var waiter = peers.Votes.Register(message.From, responseKind)
            ?? throw new RpcException(new Status(StatusCode.ResourceExhausted, "too many vote requests in flight"));
        try
        {
            peers.Host?.Deliver(message);
            var answer = await waiter.Task.WaitAsync(VoteAnswerWait, context.CancellationToken);
            return RaftMessageCodec.ToProto(answer);
        }
        catch (TimeoutException)
        {
            return new RaftMessage();
        }
        finally
        {
            peers.Votes.Unregister(message.From, responseKind, waiter);
        }
    }

    public override async Task<Ack> TimeoutNow(RaftMessage request, ServerCallContext context)
    {
        var caller = await AuthenticateAsync(context);
        var message = Check(request, caller);
        if (message.Kind != MessageKind.TimeoutNow)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"TimeoutNow carries TimeoutNow, not {message.Kind}"));
        }

        peers.Host?.Deliver(message);
        return new Ack();
    }

    public override async Task<CosignResponse> Cosign(CosignRequest request, ServerCallContext context)
    {
        await AuthenticateAsync(context);
        if (request.CheckpointBody.Length > Checkpoint.OriginLengthMax + 128)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "checkpoint body is too long"));
        }

        if (!Checkpoint.TryParseBody(request.CheckpointBody, 1, out var checkpoint, out var error))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "not a checkpoint body: " + error));
        }

        if (checkpoint!.Origin != peers.Consortium.Origin)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"checkpoint origin '{checkpoint.Origin}' is not this ledger's"));
        }

        if (peers.Cosigner is not { } cosigner)
        {
            return new CosignResponse { Refusal = "this member is still starting" };
        }

        var outcome = await cosigner.CosignAsync(checkpoint, context.CancellationToken);
        return outcome.Signature is { } signature
            ? new CosignResponse { SignatureLine = signature.ToLine() }
            : new CosignResponse { Refusal = outcome.Refusal };
    }

    public override async Task<Ack> Hello(Ack request, ServerCallContext context)
    {
        await AuthenticateAsync(context);
        return new Ack();
    }

    public override async Task<RaftStateResponse> RaftState(Ack request, ServerCallContext context)
    {
        await AuthenticateAsync(context);
        if (peers.Host is not { } host)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "this member is still starting"));
        }

        var status = host.Status;
        return new RaftStateResponse { Term = status.Term, LastIndex = status.LastIndex, LastTerm = status.LastTerm, VotesHeld = status.VotesHeld };
    }

    public override async Task<ReadIndexResponse> ReadIndex(ReadIndexRequest request, ServerCallContext context)
    {
        await AuthenticateAsync(context);
        if (peers.Host is not { } host)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "this member is still starting"));
        }

        try
        {
            return new ReadIndexResponse { Index = await host.ReadIndexAsync(context.CancellationToken) };
        }
        catch (NotLeaderException e)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, e.Message));
        }
        catch (ProposalRefusedException e)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, e.Message));
        }
    }

    /// <summary>The member name a handshake header claims (its first word), at most <see cref="KeyedLogBudget.SourceLengthMax"/> characters; empty when there is no header.</summary>
    private static string ClaimedCaller(string? header)
    {
        if (header is null)
        {
            return "";
        }

        var space = header.IndexOf(' ');
        return header[..Math.Min(space >= 0 ? space : header.Length, KeyedLogBudget.SourceLengthMax)];
    }

    private async Task<ulong> AuthenticateAsync(ServerCallContext context)
    {
        var header = context.RequestHeaders.GetValue(PeerHandshake.HeaderName);
        if (!peers.Authenticator.TryVerifyCaller(header, out var identity, out var error))
        {
            // Budgeted per claimed caller, so one impostor cannot hide another.
            if (peers.RefusalLog.TryTake(ClaimedCaller(header), out var heldBack))
            {
                LogRefused(context.Method, context.Peer, error, heldBack);
            }

            throw new RpcException(new Status(StatusCode.Unauthenticated, error));
        }

        try
        {
            await context.WriteResponseHeadersAsync(new Metadata
            {
                { PeerHandshake.HeaderName, PeerHandshake.CalleeHeader(peers.MemberKey, peers.Consortium.Origin, identity!.MemberId, peers.NowMs(), identity.Nonce) },
            });
        }
        catch (InvalidOperationException) when (context.CancellationToken.IsCancellationRequested)
        {
            // The call ended (its deadline passed) before this member got to answer it.
            throw new RpcException(new Status(StatusCode.Cancelled, "the call ended before the handshake was answered"));
        }

        return MemberIds.Of(identity.MemberId);
    }

    private Message Check(RaftMessage proto, ulong caller)
    {
        if (!RaftMessageCodec.TryFromProto(proto, out var message, out var error))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, error));
        }

        if (message.From != caller || message.To != peers.SelfId)
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied,
                $"a message from {message.From} to {message.To} cannot come from member {caller} to member {peers.SelfId}"));
        }

        return message;
    }

    [LoggerMessage(EventId = 7301, Level = LogLevel.Warning,
        Message = "refused a peer call {Method} from {Peer}: Unauthenticated: {Reason} ({HeldBack} more refusals not logged since the last)")]
    private partial void LogRefused(string method, string peer, string reason, int heldBack);
}
