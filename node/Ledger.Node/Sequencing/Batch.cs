namespace Ledger.Node.Sequencing;

/// <summary>
/// One issuer submission that passed admission: what travels in the log, with the issuer's
/// signature over it (<see cref="Ledger.Sdk.Client.AnchorMessage"/>), so that every member can check
/// the issuer signed it and not only the leader that admitted it. Null or empty: no signature
/// (a batch of format version 1, or one made by a test).
/// </summary>
internal sealed record AnchorEntry(string Issuer, ulong IssuedAtMs, byte[] Nonce, IReadOnlyList<byte[]> Digests, byte[]? Signature = null);

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
