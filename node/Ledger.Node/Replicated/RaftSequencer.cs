using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Ledger.Node.Sequencing;
using Ledger.Replication;

namespace Ledger.Node.Replicated;

/// <summary>
/// The consortium's sequencer: a batch is proposed to Raft through the member's host and is
/// committed once a majority of members hold it durably; committed batches come back in log order
/// on every member. The Raft log keeps every entry (it is what a member that lost its disk
/// rebuilds from), so there is nothing to compact.
/// </summary>
internal sealed class RaftSequencer(RaftHost host, ulong recoveredCommitIndex) : ISequencer
{
    public ulong RecoveredCommitIndex => recoveredCommitIndex;

    public async ValueTask<Task> ProposeAsync(byte[] batchBytes, object? tag, CancellationToken cancellationToken) =>
        await host.EnqueueProposalAsync(batchBytes, tag, cancellationToken);

    public async IAsyncEnumerable<CommittedEntry> ReadCommittedAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var entry in host.Committed.ReadAllAsync(cancellationToken))
        {
            var bytes = MemoryMarshal.TryGetArray(entry.Data, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length
                ? segment.Array
                : entry.Data.ToArray();
            yield return new CommittedEntry(entry.Index, bytes, entry.Tag);
        }
    }

    public void Compact(ulong durableAppliedIndex)
    {
        // The Raft log is kept whole; see the class comment.
    }
}
