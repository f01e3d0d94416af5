namespace Ledger.Node.Sequencing;

/// <summary>What apply decided for one entry: a leaf index per digest, and whether it already existed.</summary>
internal sealed record EntryOutcome(ulong[] LeafIndices, bool[] Existed, ulong TreeSize);

/// <summary>An admitted entry waiting for its batch to be durable and applied.</summary>
internal sealed class PendingAnchor
{
    public PendingAnchor(AnchorEntry entry)
    {
        Entry = entry;
    }

    public AnchorEntry Entry { get; }

    public TaskCompletionSource<EntryOutcome> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}
