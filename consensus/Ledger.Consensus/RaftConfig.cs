namespace Ledger.Consensus;

/// <summary>
/// Limits and switches of one Raft node. Every limit is validated by <see cref="Validate"/>, which the
/// <see cref="RaftNode"/> constructor calls.
/// </summary>
public sealed record RaftConfig
{
    /// <summary>This node's id, non-zero.</summary>
    public required ulong NodeId { get; init; }

    /// <summary>
    /// Base election timeout in ticks; a follower campaigns after a random timeout in
    /// [ElectionTimeoutTicks, 2 × ElectionTimeoutTicks) without hearing from a leader (§5.2).
    /// </summary>
    public int ElectionTimeoutTicks { get; init; } = 10;

    /// <summary>Ticks between leader heartbeats; must be below <see cref="ElectionTimeoutTicks"/>.</summary>
    public int HeartbeatTicks { get; init; } = 1;

    /// <summary>Run a PreVote round before incrementing the term (dissertation §9.6).</summary>
    public bool PreVote { get; init; } = true;

    /// <summary>A leader steps down when it has not heard from a quorum for an election timeout, and followers honour a leader lease (dissertation §6.2, §4.2.3).</summary>
    public bool CheckQuorum { get; init; } = true;

    /// <summary>Append messages in flight per follower in the replicate state.</summary>
    public int MaxInflightMessages { get; init; } = 256;

    /// <summary>Bytes of entries in flight per follower in the replicate state.</summary>
    public ulong MaxInflightBytes { get; init; } = 32UL << 20;

    /// <summary>Entries per Append message.</summary>
    public int MaxEntriesPerMessage { get; init; } = 1024;

    /// <summary>Bytes of entries per Append message (one entry is always allowed).</summary>
    public ulong MaxMessageBytes { get; init; } = 2UL << 20;

    /// <summary>
    /// Bytes of entries per Append to a follower in the probe state (one entry is always allowed). Until
    /// the follower's match is known, a probe goes out again at each answer to a heartbeat, so a probe is
    /// kept small; the pipelined Appends of the replicate state carry up to <see cref="MaxMessageBytes"/>.
    /// </summary>
    public ulong MaxProbeBytes { get; init; } = 64UL << 10;

    /// <summary>Bytes of one entry's payload; must fit in <see cref="MaxMessageBytes"/>.</summary>
    public ulong MaxEntryBytes { get; init; } = 1UL << 20;

    /// <summary>Bytes of proposed but uncommitted entries a leader accepts before dropping proposals.</summary>
    public ulong MaxUncommittedBytes { get; init; } = 64UL << 20;

    /// <summary>Bytes of committed entries handed to the host in one <see cref="Ready"/>.</summary>
    public ulong MaxApplyBytesPerReady { get; init; } = 8UL << 20;

    /// <summary>ReadIndex requests a leader holds while waiting for a quorum round.</summary>
    public int MaxPendingReads { get; init; } = 4096;

    /// <summary>Entries per proposal batch.</summary>
    public int MaxProposalBatchEntries { get; init; } = 4096;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid limit.</summary>
    public void Validate()
    {
        Require(NodeId != 0, nameof(NodeId), "must be non-zero");
        Require(ElectionTimeoutTicks is >= 2 and <= 1_000_000, nameof(ElectionTimeoutTicks), "must be in [2, 1000000]");
        Require(HeartbeatTicks >= 1 && HeartbeatTicks < ElectionTimeoutTicks, nameof(HeartbeatTicks), "must be in [1, ElectionTimeoutTicks)");
        Require(MaxInflightMessages is >= 1 and <= 1 << 16, nameof(MaxInflightMessages), "must be in [1, 65536]");
        Require(MaxInflightBytes >= 1, nameof(MaxInflightBytes), "must be positive");
        Require(MaxEntriesPerMessage is >= 1 and <= 1 << 20, nameof(MaxEntriesPerMessage), "must be in [1, 1048576]");
        Require(MaxMessageBytes >= 1, nameof(MaxMessageBytes), "must be positive");
        Require(MaxProbeBytes >= 1, nameof(MaxProbeBytes), "must be positive");
        Require(MaxEntryBytes >= 1 && MaxEntryBytes + Entry.EntryHeaderBytes <= MaxMessageBytes, nameof(MaxEntryBytes), "must be positive and fit in MaxMessageBytes with its header");
        Require(MaxUncommittedBytes >= MaxEntryBytes, nameof(MaxUncommittedBytes), "must be at least MaxEntryBytes");
        Require(MaxApplyBytesPerReady >= MaxEntryBytes + Entry.EntryHeaderBytes, nameof(MaxApplyBytesPerReady), "must hold at least one entry");
        Require(MaxPendingReads is >= 1 and <= 1 << 20, nameof(MaxPendingReads), "must be in [1, 1048576]");
        Require(MaxProposalBatchEntries is >= 1 and <= 1 << 20, nameof(MaxProposalBatchEntries), "must be in [1, 1048576]");
    }

    private static void Require(bool condition, string name, string rule)
    {
        if (!condition)
        {
            throw new ArgumentException($"RaftConfig.{name} {rule}", name);
        }
    }
}
