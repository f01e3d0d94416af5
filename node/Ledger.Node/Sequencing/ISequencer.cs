namespace Ledger.Node.Sequencing;

/// <summary>An encoded batch at its log position, with the local waiters that proposed it (null after a restart or on a follower).</summary>
internal sealed record CommittedEntry(ulong Index, byte[] Bytes, object? Tag);

/// <summary>
/// The seam between "accepted batch" and "apply": makes a batch durable and hands committed
/// batches back in log order, each exactly once per process. Single node: a local log with
/// fsync. A consortium: Raft, where committed means durable on a majority.
/// </summary>
internal interface ISequencer
{
    /// <summary>Appends an encoded batch; completes once it is committed (durable) and queued for apply.</summary>
    ValueTask<ulong> ProposeAsync(byte[] batchBytes, object? tag, CancellationToken cancellationToken);

    /// <summary>Committed batches in log order, starting after the index given to recovery.</summary>
    IAsyncEnumerable<CommittedEntry> ReadCommittedAsync(CancellationToken cancellationToken);
}
