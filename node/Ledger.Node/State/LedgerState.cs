using System.Runtime.InteropServices;
using Ledger.Node.Checkpoints;
using Ledger.Node.Sequencing;
using Ledger.Sdk;
using Ledger.Sdk.Merkle;
using Ledger.Storage;

namespace Ledger.Node.State;

/// <summary>
/// The applied state: leaves, tiles, digest index, accepted nonces and the applied position, all
/// in one RocksDB store and changed only by <see cref="Apply"/>, one atomic write per batch.
/// Apply depends only on the batch bytes and the state before it, so re-applying the log after a
/// crash rebuilds the same tree. Readers run concurrently with apply: the tile tree is thread-safe and reads stay at or below the applied size.
/// </summary>
internal sealed class LedgerState
{
    private readonly IKeyValueStore _store;
    private readonly TileTree _tree;
    public const int NonceDeletesPerWriteMax = 100_000;
    private readonly DigestFilter _filter;
    private AppliedPosition _applied;

    public LedgerState(IKeyValueStore store, int digestFilterBitsLog2 = DigestFilter.BitsLog2Default)
    {
        _store = store;
        _filter = new DigestFilter(digestFilterBitsLog2);
        _tree = new TileTree(store);
        var applied = store.Get(StateKeys.AppliedKey);
        _applied = applied is null ? AppliedPosition.Start : AppliedPosition.Decode(applied);
        Invariant.Check(_tree.Size == _applied.TreeSize);
    }

    public AppliedPosition Applied => Volatile.Read(ref _applied);

    public ulong TreeSize => Applied.TreeSize;

    /// <summary>
    /// Applies batch <paramref name="index"/>: appends a leaf per digest its issuer has not anchored
    /// before (earlier or in this batch), records the nonces and advances the applied position, in
    /// one write (not synced: the batch log is the durable record until <see cref="MakeDurable"/>).
    /// Returns one outcome per entry. A batch at or below the applied position was applied already
    /// and yields null.
    /// </summary>
    public IReadOnlyList<EntryOutcome>? Apply(ulong index, Batch batch)
    {
        var applied = Applied;
        if (index <= applied.BatchIndex)
        {
            return null;
        }

        // Log positions grow but may skip (Raft's own entries sit between batches). Leaf time never
        // goes back: a batch stamped before the applied one (a new leader whose clock is behind)
        // gets the applied time, the same on every member.
        var timestampMs = Math.Max(batch.TimestampMs, applied.TimestampMs);
        var seen = new Dictionary<byte[], ulong>(ByteArrayComparer.Instance);
        var leafHashes = new List<byte>();
        var staged = new StagedWrites(batch.DigestCount, batch.Entries.Count);
        var outcomes = new List<EntryOutcome>(batch.Entries.Count);
        foreach (var entry in batch.Entries)
        {
            outcomes.Add(ApplyEntry(entry, timestampMs, applied.TreeSize, staged, seen, leafHashes));
        }

        var next = new AppliedPosition(index, applied.TreeSize + (ulong)(leafHashes.Count / MerkleHash.Size), timestampMs);

        // Staged in key order (every key is distinct): RocksDB's memtable inserts a sorted run far
        // faster than random digest keys. The prefixes sort 'a' < 'd' < 'l' < 'n' < 't' (the tiles,
        // staged by the tree), and leaf keys are made in index order, so only the digest and nonce
        // keys need sorting.
        using var write = _store.CreateBatch();
        write.Put(StateKeys.AppliedKey, next.Encode());
        staged.WriteInKeyOrder(write);

        _tree.Append(write, CollectionsMarshal.AsSpan(leafHashes));
        _store.Write(write, sync: false);
        foreach (var key in seen.Keys)
        {
            _filter.Add(key);
        }

        Invariant.Check(_tree.Size == next.TreeSize);
        Volatile.Write(ref _applied, next);
        return outcomes.Select(outcome => outcome with { TreeSize = next.TreeSize }).ToArray();
    }

    /// <summary>
    /// Adds every stored digest key to the dedupe filter, then lets apply trust its "certainly
    /// absent" answers. Runs concurrently with apply (which adds the keys it writes itself). Reads
    /// keys only, in <see cref="DigestFilterScansMax"/> ranges of the key space at once (the cores
    /// are otherwise idle at start). Returns how many stored keys it read; stops, with
    /// <see cref="OperationCanceledException"/> and the filter still incomplete, when cancelled.
    /// </summary>
    public long PopulateDigestFilter(CancellationToken cancellationToken = default)
    {
        var scans = Enumerable.Range(0, DigestFilterScansMax).Select(part =>
        {
            byte[] from = part == 0 ? [StateKeys.DigestIndex] : [StateKeys.DigestIndex, (byte)(part * 256 / DigestFilterScansMax)];
            byte[] to = part == DigestFilterScansMax - 1 ? [StateKeys.DigestIndex + 1] : [StateKeys.DigestIndex, (byte)((part + 1) * 256 / DigestFilterScansMax)];
            return Task.Run(() => _store.ScanKeys(from, to, key =>
            {
                cancellationToken.ThrowIfCancellationRequested();
                _filter.Add(key);
            }));
        }).ToArray();

        // The first failure (a stop, or damage found) comes out as itself, not wrapped.
        var keys = Task.WhenAll(scans).GetAwaiter().GetResult().Sum();
        _filter.MarkComplete();
        return keys;
    }

    /// <summary>Ranges of the digest index read at once when filling the dedupe filter.</summary>
    public const int DigestFilterScansMax = 2;

    /// <summary>
    /// Deletes stored nonces issued before <paramref name="oldestKeptMs"/> (they can never pass the
    /// clock check again), in writes of at most <see cref="NonceDeletesPerWriteMax"/> keys. Nonce
    /// keys sort by issue time, so the expired ones are one key range. Returns how many were deleted.
    /// </summary>
    public long PruneNonces(ulong oldestKeptMs)
    {
        var end = StateKeys.NonceKey(oldestKeptMs, "", []);
        long deleted = 0;
        while (true)
        {
            using var write = _store.CreateBatch();
            foreach (var (key, _) in _store.Scan([StateKeys.Nonce], end).Take(NonceDeletesPerWriteMax))
            {
                write.Delete(key);
            }

            if (write.Count == 0)
            {
                return deleted;
            }

            _store.Write(write, sync: false);
            deleted += write.Count;
        }
    }

    /// <summary>
    /// Forces everything applied so far to stable storage (a synced write of the applied position)
    /// and returns that position; the batch log may then drop batches up to it.
    /// </summary>
    public AppliedPosition MakeDurable()
    {
        var applied = Applied;
        using var write = _store.CreateBatch();
        write.Put(StateKeys.AppliedKey, applied.Encode());
        _store.Write(write, sync: true);
        return applied;
    }

    private EntryOutcome ApplyEntry(
        AnchorEntry entry,
        ulong timestampMs,
        ulong sizeBefore,
        StagedWrites staged,
        Dictionary<byte[], ulong> seen,
        List<byte> leafHashes)
    {
        var indices = new ulong[entry.Digests.Count];
        var existed = new bool[entry.Digests.Count];
        for (var i = 0; i < entry.Digests.Count; i++)
        {
            var digest = entry.Digests[i];
            var digestKey = StateKeys.DigestKey(digest, entry.Issuer);
            if (seen.TryGetValue(digestKey, out indices[i]))
            {
                existed[i] = true;
                continue;
            }

            var stored = _filter.MayContain(digestKey) ? _store.Get(digestKey) : null;
            if (stored is not null)
            {
                indices[i] = StateKeys.DecodeIndex(stored);
                existed[i] = true;
                continue;
            }

            var leafIndex = sizeBefore + (ulong)(leafHashes.Count / MerkleHash.Size);
            var leafBytes = new Leaf(LeafKind.Anchor, timestampMs, entry.Issuer, digest).Encode();
            staged.Leaves.Add(new(StateKeys.LeafKey(leafIndex), leafBytes));
            staged.Digests.Add(new(digestKey, StateKeys.EncodeIndex(leafIndex)));
            leafHashes.AddRange(MerkleHash.Leaf(leafBytes));
            seen[digestKey] = leafIndex;
            indices[i] = leafIndex;
        }

        staged.Nonces.Add(new(StateKeys.NonceKey(entry.IssuedAtMs, entry.Issuer, entry.Nonce), []));
        return new EntryOutcome(indices, existed, 0);
    }

    /// <summary>Finds the leaf of a digest anchored by <paramref name="issuer"/>, or by anyone when null (the first such leaf).</summary>
    public bool TryFindLeaf(ReadOnlySpan<byte> digest, string? issuer, out ulong index)
    {
        index = 0;
        if (issuer is not null)
        {
            if (!Names.IsValid(issuer))
            {
                return false;
            }

            var stored = _store.Get(StateKeys.DigestKey(digest, issuer));
            if (stored is null)
            {
                return false;
            }

            index = StateKeys.DecodeIndex(stored);
            return index < TreeSize;
        }

        var found = false;
        foreach (var (_, value) in StateKeys.ScanPrefix(_store, StateKeys.DigestPrefix(digest)))
        {
            var candidate = StateKeys.DecodeIndex(value);
            if (candidate < TreeSize && (!found || candidate < index))
            {
                index = candidate;
                found = true;
            }
        }

        return found;
    }

    public byte[] LeafBytes(ulong index)
    {
        Invariant.Check(index < TreeSize);
        var bytes = _store.Get(StateKeys.LeafKey(index));
        Invariant.Check(bytes is not null);
        return bytes;
    }

    public byte[] RootAt(ulong size) => size == 0 ? MerkleHash.EmptyRoot() : _tree.RootAt(size);

    public IReadOnlyList<byte[]> ConsistencyProof(ulong oldSize, ulong newSize) => _tree.ConsistencyProof(oldSize, newSize);

    /// <summary>The receipt (SPEC §6) of leaf <paramref name="index"/> against <paramref name="checkpoint"/>.</summary>
    public string BuildReceipt(ulong index, SignedCheckpointText checkpoint)
    {
        Invariant.Check(index < checkpoint.TreeSize);
        var proof = _tree.InclusionProof(index, checkpoint.TreeSize);
        return new Receipt(LeafBytes(index), index, proof, checkpoint.Text).ToText();
    }

    /// <summary>Apply's writes by key prefix, so that they reach the store in key order with little sorting.</summary>
    private sealed class StagedWrites(int digests, int entries)
    {
        public List<KeyValuePair<byte[], byte[]>> Digests { get; } = new(digests);

        /// <summary>In leaf index order, hence in key order.</summary>
        public List<KeyValuePair<byte[], byte[]>> Leaves { get; } = new(digests);

        public List<KeyValuePair<byte[], byte[]>> Nonces { get; } = new(entries);

        public void WriteInKeyOrder(IKeyValueBatch write)
        {
            Digests.Sort(static (x, y) => x.Key.AsSpan().SequenceCompareTo(y.Key));
            Nonces.Sort(static (x, y) => x.Key.AsSpan().SequenceCompareTo(y.Key));
            foreach (var list in (List<KeyValuePair<byte[], byte[]>>[])[Digests, Leaves, Nonces])
            {
                foreach (var (key, value) in list)
                {
                    write.Put(key, value);
                }
            }
        }
    }
}

/// <summary>Equality of byte arrays by content (keys of the within-batch dedupe map).</summary>
internal sealed class ByteArrayComparer : IEqualityComparer<byte[]>
{
    public static readonly ByteArrayComparer Instance = new();

    public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

    public int GetHashCode(byte[] obj)
    {
        var hash = new HashCode();
        hash.AddBytes(obj);
        return hash.ToHashCode();
    }
}
