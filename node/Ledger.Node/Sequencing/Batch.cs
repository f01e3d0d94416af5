namespace Ledger.Node.Sequencing;

/// <summary>One issuer submission that passed admission: what travels in the log.</summary>
internal sealed record AnchorEntry(string Issuer, ulong IssuedAtMs, byte[] Nonce, IReadOnlyList<byte[]> Digests);

/// <summary>
/// A cut batch: the unit the sequencer makes durable and apply consumes. The timestamp is chosen
/// when the batch is cut and is the timestamp of every leaf the batch appends.
/// </summary>
internal sealed record Batch(ulong TimestampMs, IReadOnlyList<AnchorEntry> Entries)
{
    public int DigestCount => Entries.Sum(entry => entry.Digests.Count);
}

/// <summary>A batch with its position in the log (1-based, gap-free).</summary>
internal sealed record CommittedBatch(ulong Index, Batch Batch);
