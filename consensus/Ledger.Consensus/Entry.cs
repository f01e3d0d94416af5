namespace Ledger.Consensus;

/// <summary>What an entry carries.</summary>
public enum EntryKind : byte
{
    /// <summary>Opaque application data.</summary>
    Normal = 0,

    /// <summary>The empty entry a new leader appends to commit entries of earlier terms (§5.4.2, §8).</summary>
    Empty = 1,

    /// <summary>A membership change, encoded by <see cref="MembershipChange.Encode"/>.</summary>
    MembershipChange = 2,
}

/// <summary>One log entry. <see cref="Data"/> is opaque to the core and never copied by it.</summary>
/// <param name="Term">Term of the leader that created the entry.</param>
/// <param name="Index">Position in the log, starting at 1.</param>
/// <param name="Kind">What the entry carries.</param>
/// <param name="Data">Payload bytes.</param>
public readonly record struct Entry(ulong Term, ulong Index, EntryKind Kind, ReadOnlyMemory<byte> Data)
{
    /// <summary>Bytes an entry accounts for in size limits: its payload plus a fixed header.</summary>
    public ulong SizeBytes => (ulong)Data.Length + EntryHeaderBytes;

    /// <summary>Fixed per-entry overhead counted by size limits (term, index, kind).</summary>
    public const ulong EntryHeaderBytes = 17;
}

/// <summary>The state a node must persist before it answers anyone (Raft paper Figure 2).</summary>
/// <param name="Term">Latest term the node has seen.</param>
/// <param name="Vote">Candidate voted for in <paramref name="Term"/>, 0 for none.</param>
/// <param name="Commit">Highest index known committed (persisted so a restart does not re-learn it).</param>
public readonly record struct HardState(ulong Term, ulong Vote, ulong Commit);

/// <summary>What a node reads from durable storage when it starts.</summary>
/// <param name="HardState">Last persisted hard state.</param>
/// <param name="GenesisMembership">The membership before index 1 (the consortium's founding members).</param>
public sealed record RaftInitialState(HardState HardState, Membership GenesisMembership);
