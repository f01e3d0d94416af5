using System.Threading.Channels;
using Ledger.Consensus;
using Ledger.Sdk;

namespace Ledger.Replication;

/// <summary>Where the host sends the core's messages. Must not block: a full queue drops (Raft retransmits).</summary>
internal interface IPeerSender
{
    void Send(in Message message);
}

/// <summary>A committed application entry, handed to apply in log order exactly once per process.</summary>
/// <param name="Index">Raft log index.</param>
/// <param name="Data">The entry's bytes (immutable).</param>
/// <param name="Tag">What this process attached when it proposed the entry (null for entries proposed elsewhere or in another term).</param>
internal sealed record CommittedRaftEntry(ulong Index, ReadOnlyMemory<byte> Data, object? Tag);

/// <summary>What a member's Raft state looks like from outside, refreshed after every Ready.</summary>
internal sealed record RaftStatus(RaftRole Role, ulong Term, ulong LeaderId, ulong CommitIndex, ulong AppliedIndex, ulong LastIndex, ulong LastTerm = 0, bool VotesHeld = false);

/// <summary>Timing and bounds of the host loop.</summary>
internal sealed record RaftHostOptions
{
    /// <summary>Wall-clock length of one Raft tick.</summary>
    public TimeSpan TickInterval { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Events (ticks, inbound messages, proposals) queued for the loop before senders wait.</summary>
    public int EventsQueuedMax { get; init; } = 16_384;

    /// <summary>Committed entries queued for apply before the loop waits for apply to catch up.</summary>
    public int CommittedQueuedMax { get; init; } = 1_024;

    /// <summary>Events handled before the loop processes a Ready, so that proposals batch up.</summary>
    public int EventsPerReadyMax { get; init; } = 1_024;

    /// <summary>
    /// Told on the loop, with the status before and after, whenever the leader this member knows
    /// changes (a new leader, or none while an election runs). Must be quick and must not throw.
    /// </summary>
    public Action<RaftStatus, RaftStatus>? LeaderChanged { get; init; }

    /// <summary>Called on the loop once a member that held its votes (an empty log at its first start) votes again.</summary>
    public Action<RaftStatus>? VotesReleased { get; init; }
}

/// <summary>
/// The only place where the consensus core meets the world: one loop that owns the
/// <see cref="RaftNode"/>, feeds it ticks, inbound messages and proposals, and carries out each
/// Ready in the order the core's host contract requires: send the messages that may go at once,
/// persist entries and hard state with fsync (<see cref="RaftLogStore.Persist"/>), only then send
/// votes and acknowledgements, hand committed entries to apply, then Advance.
/// </summary>
internal sealed class RaftHost : IAsyncDisposable
{
    /// <summary>Linearizable reads waiting for the leader's quorum round.</summary>
    public const int ReadsPendingMax = 4_096;

    private readonly RaftNode _node;
    private readonly RaftLogStore _log;
    private readonly IPeerSender _sender;
    private readonly RaftHostOptions _options;
    private readonly Channel<HostEvent> _events;
    private readonly Channel<CommittedRaftEntry> _committed;
    private readonly Dictionary<ulong, PendingProposal> _pending = [];
    private readonly Dictionary<ulong, TaskCompletionSource<ulong>> _reads = [];
    private ulong _readContext;
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;
    private Task? _ticker;
    private RaftStatus _status;
    private ulong _lastQueuedBatchIndex;
    private long _leaderChanges;
    private bool _votesHeldStored;
    private IReadOnlyDictionary<ulong, ulong> _matchIndices = new Dictionary<ulong, ulong>();

    public RaftHost(RaftNode node, RaftLogStore log, IPeerSender sender, RaftHostOptions options)
    {
        _node = node;
        _log = log;
        _sender = sender;
        _options = options;
        _events = Channel.CreateBounded<HostEvent>(new BoundedChannelOptions(options.EventsQueuedMax) { SingleReader = true });
        _committed = Channel.CreateBounded<CommittedRaftEntry>(new BoundedChannelOptions(options.CommittedQueuedMax) { SingleReader = true, SingleWriter = true });
        _votesHeldStored = log.VotesHeld;
        if (_votesHeldStored)
        {
            node.HoldVotes();
        }

        _status = Snapshot();
    }

    /// <summary>Committed application entries in log order.</summary>
    public ChannelReader<CommittedRaftEntry> Committed => _committed.Reader;

    /// <summary>The latest status.</summary>
    public RaftStatus Status => Volatile.Read(ref _status);

    /// <summary>How many times this member saw the leader change (a new leader elected or the old one lost).</summary>
    public long LeaderChanges => Interlocked.Read(ref _leaderChanges);

    /// <summary>On the leader, each other member's match index (refreshed every tick); empty elsewhere.</summary>
    public IReadOnlyDictionary<ulong, ulong> MatchIndices => Volatile.Read(ref _matchIndices);

    /// <summary>Index of the last application entry queued for apply (Raft's own entries are not).</summary>
    public ulong LastQueuedApplicationIndex => Volatile.Read(ref _lastQueuedBatchIndex);

    /// <summary>This member's Raft id.</summary>
    public ulong Id => _node.Id;

    /// <summary>
    /// Completes when the loop stops; faulted when it failed (for example the Raft log could not be
    /// written), after which the member must stop: it can no longer keep its promises.
    /// </summary>
    public Task Completion => _loop ?? Task.CompletedTask;

    public void Start()
    {
        Invariant.Check(_loop is null);
        _loop = Task.Run(() => RunAsync(_stop.Token));
        _ticker = Task.Run(() => TickAsync(_stop.Token));
    }

    /// <summary>Delivers a message from a peer (already authenticated). Drops it when the loop is saturated.</summary>
    public void Deliver(in Message message) => _events.Writer.TryWrite(new HostEvent.Inbound(message));

    /// <summary>
    /// Proposes application data; completes with its log index once it is committed and queued for
    /// apply. Fails with <see cref="NotLeaderException"/> on a follower, and with
    /// <see cref="ProposalLostException"/> when a leader change dropped it before it committed.
    /// </summary>
    public Task<ulong> ProposeAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
        ProposeAsync(data, null, cancellationToken);

    /// <summary>
    /// As <see cref="ProposeAsync(ReadOnlyMemory{byte}, CancellationToken)"/>; <paramref name="tag"/>
    /// travels with the committed entry to apply when this proposal is the one that committed at its index.
    /// </summary>
    public async Task<ulong> ProposeAsync(ReadOnlyMemory<byte> data, object? tag, CancellationToken cancellationToken)
    {
        var committed = await EnqueueProposalAsync(data, tag, cancellationToken);
        return await committed.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Queues a proposal behind every proposal queued before it and returns at once with the task
    /// that completes (with the log index) when it commits, as <see cref="ProposeAsync(ReadOnlyMemory{byte}, object?, CancellationToken)"/>.
    /// Lets a caller keep several proposals in flight in a fixed order.
    /// </summary>
    public async ValueTask<Task<ulong>> EnqueueProposalAsync(ReadOnlyMemory<byte> data, object? tag, CancellationToken cancellationToken)
    {
        var completion = new TaskCompletionSource<ulong>(TaskCreationOptions.RunContinuationsAsynchronously);
        await _events.Writer.WriteAsync(new HostEvent.Propose(data, tag, completion), cancellationToken);
        return completion.Task;
    }

    /// <summary>
    /// A linearizable read point (dissertation §6.4), on the leader only: completes with a commit index
    /// that a quorum confirmed this leader still held after the call; a read that waits until that
    /// index is applied sees every write acknowledged before the call. Fails with
    /// <see cref="NotLeaderException"/> on a follower.
    /// </summary>
    public async Task<ulong> ReadIndexAsync(CancellationToken cancellationToken)
    {
        var completion = new TaskCompletionSource<ulong>(TaskCreationOptions.RunContinuationsAsynchronously);
        await _events.Writer.WriteAsync(new HostEvent.Read(completion), cancellationToken);
        return await completion.Task.WaitAsync(cancellationToken);
    }

    /// <summary>What member <paramref name="memberId"/> answered when asked for its term and last log entry (while votes are held).</summary>
    public void ObservePeer(ulong memberId, ulong term, ulong lastIndex, ulong lastTerm) =>
        _events.Writer.TryWrite(new HostEvent.PeerState(memberId, term, lastIndex, lastTerm));

    /// <summary>Asks the leader to hand leadership to <paramref name="memberId"/>.</summary>
    public ValueTask TransferLeadershipAsync(ulong memberId, CancellationToken cancellationToken) =>
        _events.Writer.WriteAsync(new HostEvent.Transfer(memberId), cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _events.Writer.TryComplete();
        foreach (var task in new[] { _loop, _ticker })
        {
            if (task is not null)
            {
                await task.ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }

        foreach (var pending in _pending.Values)
        {
            pending.Completion.TrySetCanceled();
        }

        _committed.Writer.TryComplete();
        _stop.Dispose();
    }

    private async Task TickAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.TickInterval);
        while (await timer.WaitForNextTickAsync(cancellationToken))
        {
            _events.Writer.TryWrite(HostEvent.Tick.Instance);
        }
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            await LoopAsync(cancellationToken);
        }
        catch (Exception exception)
        {
            // Nobody may wait for a loop that is gone: proposers fail, senders stop, apply ends.
            _events.Writer.TryComplete(exception);
            foreach (var pending in _pending.Values)
            {
                pending.Completion.TrySetException(new ProposalRefusedException("the member stopped: " + exception.Message));
            }

            _pending.Clear();
            foreach (var read in _reads.Values)
            {
                read.TrySetException(new ProposalRefusedException("the member stopped: " + exception.Message));
            }

            _reads.Clear();
            _committed.Writer.TryComplete(exception is OperationCanceledException ? null : exception);
            throw;
        }
    }

    private async Task LoopAsync(CancellationToken cancellationToken)
    {
        var reader = _events.Reader;
        while (await reader.WaitToReadAsync(cancellationToken))
        {
            var handled = 0;
            while (handled < _options.EventsPerReadyMax && reader.TryRead(out var next))
            {
                Handle(next);
                handled++;
            }

            while (_node.HasReady())
            {
                await ProcessReadyAsync(cancellationToken);
            }

            if (_votesHeldStored && !_node.VotesHeld)
            {
                // The hard state of the release (its abstention) was persisted above.
                _log.ReleaseVotes();
                _votesHeldStored = false;
                _options.VotesReleased?.Invoke(Snapshot());
            }

            if (_reads.Count > 0 && _node.Role != RaftRole.Leader)
            {
                // A deposed leader's read rounds never complete; their callers ask the new leader.
                foreach (var read in _reads.Values)
                {
                    read.TrySetException(new NotLeaderException(_node.LeaderId));
                }

                _reads.Clear();
            }

            var status = Snapshot();
            var previous = _status;
            Volatile.Write(ref _status, status);
            if (status.LeaderId != previous.LeaderId)
            {
                Interlocked.Increment(ref _leaderChanges);
                _options.LeaderChanged?.Invoke(previous, status);
            }
        }
    }

    private void Handle(HostEvent hostEvent)
    {
        switch (hostEvent)
        {
            case HostEvent.Tick:
                _node.Tick();
                var matches = new Dictionary<ulong, ulong>();
                _node.CopyMatchIndices(matches);
                Volatile.Write(ref _matchIndices, matches);
                break;
            case HostEvent.Inbound inbound:
                _node.Step(inbound.Message);
                break;
            case HostEvent.Propose propose:
                HandlePropose(propose);
                break;
            case HostEvent.PeerState peer:
                _node.ObservePeerState(peer.MemberId, peer.Term, peer.LastIndex, peer.LastTerm);
                break;
            case HostEvent.Transfer transfer:
                _node.TransferLeadership(transfer.MemberId);
                break;
            case HostEvent.Read read:
                HandleRead(read);
                break;
        }
    }

    private void HandleRead(HostEvent.Read read)
    {
        if (_reads.Count >= ReadsPendingMax)
        {
            read.Completion.TrySetException(new ProposalRefusedException("too many reads waiting for the leader's confirmation"));
            return;
        }

        var context = ++_readContext;
        switch (_node.ReadIndex(context))
        {
            case ReadIndexStatus.Pending:
                _reads[context] = read.Completion;
                break;
            case ReadIndexStatus.NotLeader:
                read.Completion.TrySetException(new NotLeaderException(_node.LeaderId));
                break;
            case var status:
                read.Completion.TrySetException(new ProposalRefusedException(status.ToString()));
                break;
        }
    }

    private void HandlePropose(HostEvent.Propose propose)
    {
        var result = _node.Propose(propose.Data);
        switch (result.Status)
        {
            case ProposeStatus.Accepted:
                _pending[result.Index] = new PendingProposal(result.Term, propose.Tag, propose.Completion);
                break;
            case ProposeStatus.NotLeader:
                propose.Completion.TrySetException(new NotLeaderException(result.LeaderHint));
                break;
            default:
                propose.Completion.TrySetException(new ProposalRefusedException(result.Status.ToString()));
                break;
        }
    }

    private async Task ProcessReadyAsync(CancellationToken cancellationToken)
    {
        var ready = _node.Ready();
        foreach (ref readonly var message in ready.Messages)
        {
            _sender.Send(message);
        }

        _log.Persist(ready.Entries.Span, ready.HardState);
        foreach (var read in ready.ReadStates)
        {
            if (_reads.Remove(read.RequestContext, out var waiter))
            {
                waiter.TrySetResult(read.Index);
            }
        }

        foreach (ref readonly var message in ready.MessagesAfterPersist)
        {
            _sender.Send(message);
        }

        // Committed entries go to apply before Advance (the host contract). A full apply queue holds
        // the loop here: back-pressure from a slow apply rather than unbounded memory.
        var committed = ready.CommittedEntries.ToArray();
        foreach (var entry in committed)
        {
            if (entry.Kind == EntryKind.Normal)
            {
                var tag = _pending.TryGetValue(entry.Index, out var pending) && pending.Term == entry.Term ? pending.Tag : null;
                await _committed.Writer.WriteAsync(new CommittedRaftEntry(entry.Index, entry.Data, tag), cancellationToken);
                Volatile.Write(ref _lastQueuedBatchIndex, entry.Index);
            }
        }

        _node.Advance();
        foreach (var entry in committed)
        {
            Resolve(entry);
        }
    }

    private void Resolve(in Entry entry)
    {
        if (!_pending.Remove(entry.Index, out var pending))
        {
            return;
        }

        if (pending.Term == entry.Term)
        {
            pending.Completion.TrySetResult(entry.Index);
        }
        else
        {
            pending.Completion.TrySetException(new ProposalLostException(entry.Index));
        }
    }

    private RaftStatus Snapshot() =>
        new(_node.Role, _node.Term, _node.LeaderId, _node.CommitIndex, _node.AppliedIndex, _node.LastIndex, _node.LastTerm, _node.VotesHeld);

    private sealed record PendingProposal(ulong Term, object? Tag, TaskCompletionSource<ulong> Completion);

    private abstract record HostEvent
    {
        public sealed record Tick : HostEvent
        {
            public static readonly Tick Instance = new();
        }

        public sealed record Inbound(Message Message) : HostEvent;

        public sealed record Propose(ReadOnlyMemory<byte> Data, object? Tag, TaskCompletionSource<ulong> Completion) : HostEvent;

        public sealed record Read(TaskCompletionSource<ulong> Completion) : HostEvent;

        public sealed record Transfer(ulong MemberId) : HostEvent;

        public sealed record PeerState(ulong MemberId, ulong Term, ulong LastIndex, ulong LastTerm) : HostEvent;
    }
}

/// <summary>This member is not the leader; <see cref="LeaderId"/> is the one it knows of (0: none).</summary>
internal sealed class NotLeaderException(ulong leaderId) : Exception($"not the leader; the leader is {leaderId}")
{
    public ulong LeaderId { get; } = leaderId;
}

/// <summary>A leader change replaced the proposal at its index before it committed; propose again.</summary>
internal sealed class ProposalLostException(ulong index) : Exception($"the proposal at index {index} was lost in a leader change");

/// <summary>The core refused the proposal (a limit, or a leadership transfer in progress).</summary>
internal sealed class ProposalRefusedException(string reason) : Exception($"the proposal was refused: {reason}");
