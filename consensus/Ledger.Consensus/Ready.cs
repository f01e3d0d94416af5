using System.Runtime.InteropServices;

namespace Ledger.Consensus;

/// <summary>The role a node plays in its current term.</summary>
public enum RaftRole : byte
{
    /// <summary>Follows a leader or waits for one.</summary>
    Follower = 0,

    /// <summary>Asks for PreVotes without changing its term.</summary>
    PreCandidate = 1,

    /// <summary>Asks for votes in a new term.</summary>
    Candidate = 2,

    /// <summary>Accepts proposals and replicates the log.</summary>
    Leader = 3,
}

/// <summary>The result of a ReadIndex round: reads that see every write committed up to Index are linearizable.</summary>
/// <param name="Index">Commit index at the time of the request; serve the read once applied ≥ Index.</param>
/// <param name="RequestContext">The host's request identifier.</param>
public readonly record struct ReadState(ulong Index, ulong RequestContext);

/// <summary>
/// Work for the host, obtained from <see cref="RaftNode.Ready"/>. The host must, in order:
/// <list type="number">
/// <item>send <see cref="Messages"/> (may run in parallel with step 2: a leader replicates while it persists);</item>
/// <item>persist <see cref="Entries"/> (the first may overwrite the tail from its index on) and then
/// <see cref="HardState"/> if not null, durably (fsync), entries before hard state or atomically;</item>
/// <item>only then send <see cref="MessagesAfterPersist"/> (votes and acknowledgements promise durability);</item>
/// <item>apply <see cref="CommittedEntries"/> in order, and serve <see cref="ReadStates"/> once applied;</item>
/// <item>call <see cref="RaftNode.Advance"/>, which is also the report that the entries are durable.</item>
/// </list>
/// The object and its contents are owned by the node and valid only until <see cref="RaftNode.Advance"/>.
/// </summary>
public sealed class Ready
{
    internal List<Message> MessageList { get; set; } = [];

    internal List<Message> AfterPersistList { get; set; } = [];

    internal List<ReadState> ReadStateList { get; } = [];

    /// <summary>Entries to persist before <see cref="MessagesAfterPersist"/> are sent.</summary>
    public ReadOnlyMemory<Entry> Entries { get; internal set; }

    /// <summary>Hard state to persist, null when unchanged.</summary>
    public HardState? HardState { get; internal set; }

    /// <summary>Messages that may be sent at once, before or while persisting.</summary>
    public ReadOnlySpan<Message> Messages => CollectionsMarshal.AsSpan(MessageList);

    /// <summary>Messages to send only after <see cref="Entries"/> and <see cref="HardState"/> are durable.</summary>
    public ReadOnlySpan<Message> MessagesAfterPersist => CollectionsMarshal.AsSpan(AfterPersistList);

    /// <summary>Committed entries, durable on this node, to apply in order.</summary>
    public ReadOnlyMemory<Entry> CommittedEntries { get; internal set; }

    /// <summary>Completed ReadIndex requests.</summary>
    public ReadOnlySpan<ReadState> ReadStates => CollectionsMarshal.AsSpan(ReadStateList);

    /// <summary>The node's role when the Ready was produced.</summary>
    public RaftRole Role { get; internal set; }

    /// <summary>The leader known when the Ready was produced, 0 for none.</summary>
    public ulong LeaderId { get; internal set; }
}

/// <summary>Outcome of a proposal.</summary>
public enum ProposeStatus : byte
{
    /// <summary>Appended to the leader's log at <see cref="ProposeResult.Index"/>; not yet committed.</summary>
    Accepted = 0,

    /// <summary>This node is not the leader; see <see cref="ProposeResult.LeaderHint"/>.</summary>
    NotLeader = 1,

    /// <summary>Dropped: the uncommitted-bytes limit is reached; retry later.</summary>
    DroppedUncommittedLimit = 2,

    /// <summary>Dropped: a leadership transfer is in progress.</summary>
    DroppedTransferInProgress = 3,

    /// <summary>Rejected: an entry exceeds <see cref="RaftConfig.MaxEntryBytes"/> or a batch is empty or too long.</summary>
    RejectedTooLarge = 4,

    /// <summary>Rejected: the membership change is invalid now (see <see cref="ProposeResult.Reason"/>).</summary>
    RejectedMembershipChange = 5,
}

/// <summary>Typed result of <see cref="RaftNode.Propose(ReadOnlyMemory{byte})"/> and friends.</summary>
/// <param name="Status">What happened.</param>
/// <param name="LeaderHint">Known leader when not leader, 0 when unknown.</param>
/// <param name="Index">Index of the (last) appended entry when accepted.</param>
/// <param name="Term">Term of the appended entries when accepted.</param>
/// <param name="Reason">Why a membership change was rejected.</param>
public readonly record struct ProposeResult(ProposeStatus Status, ulong LeaderHint, ulong Index, ulong Term, string? Reason = null)
{
    /// <summary>True when accepted.</summary>
    public bool IsAccepted => Status == ProposeStatus.Accepted;
}

/// <summary>Outcome of <see cref="RaftNode.ReadIndex"/>.</summary>
public enum ReadIndexStatus : byte
{
    /// <summary>Queued; a <see cref="ReadState"/> with the context will appear in a later Ready.</summary>
    Pending = 0,

    /// <summary>Not the leader; ask the leader hint.</summary>
    NotLeader = 1,

    /// <summary>The leader has not yet committed an entry of its term (§6.4, step 1); retry shortly.</summary>
    NotReady = 2,

    /// <summary>Too many reads pending.</summary>
    DroppedPendingLimit = 3,
}
