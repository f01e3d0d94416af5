using Ledger.Node.State;
using Ledger.Replication;
using Ledger.Sdk;

namespace Ledger.Node.Replicated;

/// <summary>
/// This member's answer to another member's cosign request: it signs a checkpoint only of its own
/// applied tree (its tree, at that size, has that root), so everything it ever signs is consistent,
/// and only when the newest leaf's timestamp is not ahead of its own clock by more than the
/// allowed skew. A request for a size it has not applied yet waits briefly for apply to catch up.
/// </summary>
internal sealed class StateCosigner(LedgerState state, SignerKey memberKey, Func<ulong> nowMs, ulong clockSkewMs, Func<ulong, CancellationToken, Task> waitForTreeSize)
    : ICheckpointCosigner
{
    /// <summary>How long a request for a tree this member has not applied yet may wait.</summary>
    public static readonly TimeSpan CatchUpWait = TimeSpan.FromMilliseconds(1_500);

    public async Task<CosignOutcome> CosignAsync(Checkpoint checkpoint, CancellationToken cancellationToken)
    {
        if (state.TreeSize < checkpoint.Size)
        {
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            wait.CancelAfter(CatchUpWait);
            try
            {
                await waitForTreeSize(checkpoint.Size, wait.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return CosignOutcome.Refused($"my tree has {state.TreeSize} leaves, not yet {checkpoint.Size}");
            }
        }

        if (!state.RootAt(checkpoint.Size).AsSpan().SequenceEqual(checkpoint.Root))
        {
            return CosignOutcome.Refused($"my tree at size {checkpoint.Size} has another root");
        }

        if (checkpoint.Size > 0 && Leaf.TryDecode(state.LeafBytes(checkpoint.Size - 1), out var newest, out _)
            && newest!.TimestampMs > nowMs() + clockSkewMs)
        {
            return CosignOutcome.Refused(
                $"leaf {checkpoint.Size - 1} is stamped {newest.TimestampMs - nowMs()} ms ahead of my clock (allowed skew {clockSkewMs} ms)");
        }

        var body = checkpoint.Body();
        return CosignOutcome.Signed(SignedNote.Sign(body, [memberKey]).Signatures[0]);
    }

    /// <summary>Signs a checkpoint of this member's own tree (no checks needed: it is its own).</summary>
    public static SignedNote SignOwn(string origin, ulong size, byte[] root, SignerKey memberKey) =>
        SignedNote.Sign(new Checkpoint(origin, size, root).Body(), [memberKey]);
}
