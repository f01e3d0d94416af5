namespace Ledger.Node.Sequencing;

/// <summary>An encoded batch at its log position, with the local waiters that proposed it (null after a restart or on a follower).</summary>
internal sealed record CommittedEntry(ulong Index, byte[] Bytes, object? Tag);

/// <summary>
/// The seam between "accepted batch" and "apply": orders batches in a durable log and hands
/// committed batches back in log order, each exactly once per process. Single node: a local log
/// with fsync. A consortium: Raft, where committed means durable on a majority. Log positions
/// grow but need not be contiguous (Raft has entries of its own between batches).
/// </summary>
internal interface ISequencer
{
    /// <summary>
    /// Places an encoded batch in the log order; completes once its place is fixed. The returned
    /// task completes when the batch is committed and queued for apply, or faults when it never
    /// will be (this member lost leadership, the member stopped), in which case nothing of it is applied.
    /// </summary>
    ValueTask<Task> ProposeAsync(byte[] batchBytes, object? tag, CancellationToken cancellationToken);

    /// <summary>Committed batches in log order, starting after the applied position the sequencer was opened with.</summary>
    IAsyncEnumerable<CommittedEntry> ReadCommittedAsync(CancellationToken cancellationToken);

    /// <summary>The log position every entry committed before this start reaches; the node serves once it has applied that far.</summary>
    ulong RecoveredCommitIndex { get; }

    /// <summary>Tells the log that the state holds everything up to <paramref name="durableAppliedIndex"/> durably.</summary>
    void Compact(ulong durableAppliedIndex);
}
