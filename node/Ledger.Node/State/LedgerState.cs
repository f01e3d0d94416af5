using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Ledger.Node.Checkpoints;
using Ledger.Node.Sequencing;
using Ledger.Sdk;
using Ledger.Sdk.Merkle;
using Ledger.Storage;

namespace Ledger.Node.State;

/// <summary>
/// The applied state: leaves, tiles, digest index, accepted nonces and the applied position, all
/// in one RocksDB store and changed only by <see cref="Apply"/>, one atomic write per batch; the
/// newest digest index entries wait in memory (<see cref="DigestIndexTail"/>) and reach the store
/// in long runs, and a start puts those not written back from the leaves.
/// Apply depends only on the batch bytes and the state before it, so re-applying the log after a
/// crash rebuilds the same tree. Readers run concurrently with apply: the tile tree is thread-safe and reads stay at or below the applied size.
/// </summary>
internal sealed class LedgerState
{
    private readonly IKeyValueStore _store;
    private readonly TileTree _tree;
    public const int NonceDeletesPerWriteMax = 100_000;
    private readonly DigestFilter _filter;
    private readonly DigestIndexTail _tail;
    private readonly int _generationsPerRun;
    private Task? _indexWrite;
    private AppliedPosition _applied;

    public LedgerState(
        IKeyValueStore store,
        int digestFilterBitsLog2 = DigestFilter.BitsLog2Default,
        int digestIndexGeneration = DigestIndexGenerationDefault,
        int digestIndexGenerationsPerRun = DigestIndexGenerationsPerRunDefault)
    {
        Invariant.Check(digestIndexGeneration > 0 && digestIndexGenerationsPerRun > 0);
        _generationsPerRun = digestIndexGenerationsPerRun;
        _store = store;
        _filter = new DigestFilter(digestFilterBitsLog2);
        _tail = new DigestIndexTail(digestIndexGeneration);
        _tree = new TileTree(store);
        var applied = store.Get(StateKeys.AppliedKey);
        _applied = applied is null ? AppliedPosition.Start : AppliedPosition.Decode(applied);
        Invariant.Check(_tree.Size == _applied.TreeSize);
        LoadTail();
    }

    /// <summary>
    /// Digest index entries per generation of the tail (<see cref="DigestIndexTail"/>): apply keeps
    /// the entries of new leaves in memory and closes the generation it adds to at this many, so
    /// that the map it inserts into stays small (about 5 MB). About 7 MB of memory per generation.
    /// </summary>
    public const int DigestIndexGenerationDefault = 65_536;

    /// <summary>
    /// Closed generations written to the store at once, in the background, as one sorted run (one
    /// table file of about a million keys). Measured with `cpu-cost apply`: apply's CPU per digest,
    /// RocksDB's background work included, 5.7 µs at 14 M digests against 6.8 µs when each
    /// generation went to the store alone, through RocksDB's memtable (docs/storage.md).
    /// </summary>
    public const int DigestIndexGenerationsPerRunDefault = 16;

    /// <summary>
    /// Apply waits for the run being written once this many more closed generations than a run
    /// takes have gathered, so that the memory held stays bounded when writing falls behind.
    /// </summary>
    public const int DigestIndexGenerationsAheadMax = 4;

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

        if (_indexWrite is { IsFaulted: true })
        {
            // The store refused the last digest index run: stop here, as for a failed apply.
            _indexWrite.GetAwaiter().GetResult();
        }

        // Log positions grow but may skip (Raft's own entries sit between batches). Leaf time never
        // goes back: a batch stamped before the applied one (a new leader whose clock is behind)
        // gets the applied time, the same on every member.
        var timestampMs = Math.Max(batch.TimestampMs, applied.TimestampMs);
        var leafHashes = new List<byte>(batch.DigestCount * MerkleHash.Size);
        var staged = new StagedWrites(batch.DigestCount, batch.Entries.Count);
        var outcomes = new List<EntryOutcome>(batch.Entries.Count);
        var positions = FilterPositionsPrefetched(batch);
        var seen = new SeenInBatch(batch.DigestCount);

        // In key order (every key is distinct): RocksDB's memtable inserts a sorted run far faster
        // than random keys. Leaves are written as they are made, in index order; in the default
        // family the prefixes sort 'a' < 'n' < 't' (the tiles, staged by the tree), so only the
        // nonce keys need sorting. The digest index entries go to the tail, and to the store later
        // in a long run.
        using var write = _store.CreateBatch();
        for (var e = 0; e < batch.Entries.Count; e++)
        {
            outcomes.Add(ApplyEntry(batch.Entries[e], positions[e], timestampMs, applied.TreeSize, staged, seen, leafHashes, write));
        }

        var next = new AppliedPosition(index, applied.TreeSize + (ulong)(leafHashes.Count / MerkleHash.Size), timestampMs);
        write.Put(StateKeys.AppliedKey, next.Encode());
        staged.WriteInKeyOrder(write);

        _tree.Append(write, CollectionsMarshal.AsSpan(leafHashes));
        _store.Write(write, sync: false);
        _tail.Add(staged.Digests);

        Invariant.Check(_tree.Size == next.TreeSize);
        Volatile.Write(ref _applied, next);
        MaybeWriteIndexRun();
        return outcomes.Select(outcome => outcome with { TreeSize = next.TreeSize }).ToArray();
    }

    /// <summary>
    /// Waits for the digest index run being written, if any, and writes the rest of the tail, so
    /// that the next start has nothing to load. For a stop, once apply has ended; throws what the
    /// store threw.
    /// </summary>
    public void WriteDigestIndex()
    {
        WaitForIndexRun(rethrow: true);
        if (_tail.OpenCount > 0)
        {
            _tail.Seal(TreeSize);
        }

        if (_tail.SealedCount > 0)
        {
            WriteIndexRun(_tail.SealedCount);
        }
    }

    /// <summary>
    /// Waits for the digest index run being written, if any, without throwing its failure (which
    /// apply and <see cref="WriteDigestIndex"/> throw). Call before the store is closed.
    /// </summary>
    public void WaitForIndexRun() => WaitForIndexRun(rethrow: false);

    private void WaitForIndexRun(bool rethrow)
    {
        var running = _indexWrite;
        if (running is null)
        {
            return;
        }

        try
        {
            running.GetAwaiter().GetResult();
        }
        catch (Exception) when (!rethrow)
        {
            // Kept (thrown or not): the run stays sealed in the tail, and every later write attempt meets the failure.
            return;
        }

        _indexWrite = null;
    }

    /// <summary>
    /// Starts writing the tail's closed generations to the store once they make a run and no run is
    /// being written; waits for the running one only when <see cref="DigestIndexGenerationsAheadMax"/> more
    /// generations than a run takes have gathered.
    /// </summary>
    private void MaybeWriteIndexRun()
    {
        if (_indexWrite is not null)
        {
            if (!_indexWrite.IsCompleted && _tail.SealedCount < _generationsPerRun + DigestIndexGenerationsAheadMax)
            {
                return;
            }

            WaitForIndexRun(rethrow: true);
        }

        var sealedCount = _tail.SealedCount;
        if (sealedCount >= _generationsPerRun)
        {
            _indexWrite = Task.Run(() => WriteIndexRun(sealedCount));
        }
    }

    /// <summary>
    /// Writes the first <paramref name="generations"/> closed generations of the tail as one sorted
    /// run, then the tree size below which the store now holds every entry, then drops them from
    /// the tail. A stop between the two writes leaves entries the store holds in the tail's range:
    /// the next open loads them again and a later run writes them again, with the same values.
    /// </summary>
    private void WriteIndexRun(int generations)
    {
        using (var run = _store.CreateSortedRun())
        {
            _tail.WriteSealed(run, generations);
            run.Commit();
        }

        using (var write = _store.CreateBatch())
        {
            write.Put(StateKeys.IndexedKey, StateKeys.EncodeIndex(_tail.SealedTreeSize(generations)));
            _store.Write(write, sync: false);
        }

        _tail.Written(generations);
    }

    /// <summary>
    /// At open: puts the digest index entries of the leaves the store's index does not cover yet
    /// (those applied after its last run) back in the tail. A store without the indexed position
    /// was written before the tail existed and holds every entry; the position is recorded now,
    /// ahead of any apply, so that a later open cannot mistake entries left in the tail for stored.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once, over up to 1.4 M leaves: no time in unoptimized code
    private void LoadTail()
    {
        const int LoadChunk = 4_096;
        ulong indexed;
        if (_store.Get(StateKeys.IndexedKey) is { } value)
        {
            indexed = StateKeys.DecodeIndex(value);
        }
        else
        {
            indexed = _applied.TreeSize;
            using var write = _store.CreateBatch();
            write.Put(StateKeys.IndexedKey, StateKeys.EncodeIndex(indexed));
            _store.Write(write, sync: true);
        }

        Invariant.Check(indexed <= _applied.TreeSize);
        var entries = new List<TailEntry>();
        foreach (var (key, bytes) in _store.Scan(StateKeys.LeafKey(indexed), StateKeys.LeafKey(_applied.TreeSize)))
        {
            Invariant.Check(Leaf.TryDecode(bytes, out var leaf, out _));
            if (leaf!.Kind == LeafKind.Anchor)
            {
                entries.Add(new TailEntry(leaf.Digest, leaf.Issuer, StateKeys.ParseIndexKey(key)));
                if (entries.Count == LoadChunk)
                {
                    _tail.Add(entries);
                    entries.Clear();
                }
            }
        }

        _tail.Add(entries);
    }

    /// <summary>
    /// Adds every digest key, of the tail and of the store, to the dedupe filter, then lets apply
    /// trust its "certainly absent" answers. Runs concurrently with apply (which adds the keys it
    /// applies itself). Reads the store's keys only, in <see cref="DigestFilterScansMax"/> ranges of
    /// the key space at once (the cores are otherwise idle at start). Returns how many keys it
    /// added; stops, with
    /// <see cref="OperationCanceledException"/> and the filter still incomplete, when cancelled.
    /// </summary>
    public long PopulateDigestFilter(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();

        // The tail first: an entry that moves to the store meanwhile is then met by the scans,
        // which start after it is written.
        long tailKeys = _tail.VisitKeys(_filter.Add);
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
        return tailKeys + keys;
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

    /// <summary>
    /// The dedupe filter's bits of every digest of <paramref name="batch"/>, by entry, with the block
    /// of each asked for ahead (<see cref="DigestFilter.Prefetch"/>). The issuer's part of the hash is
    /// computed once per entry, and no digest key is made: only a "maybe" needs one.
    /// </summary>
    private DigestFilter.BitPositions[][] FilterPositionsPrefetched(Batch batch)
    {
        var positions = new DigestFilter.BitPositions[batch.Entries.Count][];
        for (var e = 0; e < positions.Length; e++)
        {
            var entry = batch.Entries[e];
            // The issuer's bytes exactly as they end a digest key (StateKeys.DigestKey).
            var issuerAscii = new byte[entry.Issuer.Length];
            Encoding.ASCII.GetBytes(entry.Issuer, issuerAscii);
            var issuerHash = DigestFilter.IssuerHash(issuerAscii);
            var entryPositions = positions[e] = new DigestFilter.BitPositions[entry.Digests.Count];
            for (var i = 0; i < entryPositions.Length; i++)
            {
                entryPositions[i] = _filter.PositionsOf(entry.Digests[i], issuerHash);
                _filter.Prefetch(entryPositions[i]);
            }
        }

        return positions;
    }

    private EntryOutcome ApplyEntry(
        AnchorEntry entry,
        DigestFilter.BitPositions[] positions,
        ulong timestampMs,
        ulong sizeBefore,
        StagedWrites staged,
        SeenInBatch seen,
        List<byte> leafHashes,
        IKeyValueBatch write)
    {
        var indices = new ulong[entry.Digests.Count];
        var existed = new bool[entry.Digests.Count];
        Span<byte> leafKey = stackalloc byte[StateKeys.IndexKeyLength];
        Span<byte> leafBuffer = stackalloc byte[Leaf.LengthMax];
        var issuerChecked = false;
        for (var i = 0; i < entry.Digests.Count; i++)
        {
            var digest = entry.Digests[i];

            // Added to the filter before the write: a key there too early only costs a lookup. Every
            // key of this batch is added as it comes, so "certainly absent" also means not earlier
            // in this batch; only a "maybe" needs the batch's own keys and then the index.
            if (_filter.MayContainThenAdd(positions[i]))
            {
                var digestKey = StateKeys.DigestKey(digest, entry.Issuer);
                if (seen.TryGet(digestKey, out indices[i]) || TryFindKey(digest, entry.Issuer, digestKey, out indices[i]))
                {
                    existed[i] = true;
                    continue;
                }
            }

            if (!issuerChecked)
            {
                // As Leaf.Encode checks it, once per entry rather than once per leaf.
                Names.Validate(entry.Issuer, "issuer");
                issuerChecked = true;
            }

            var leafIndex = sizeBefore + (ulong)(leafHashes.Count / MerkleHash.Size);
            var leafBytes = leafBuffer[..Leaf.EncodeValidated(LeafKind.Anchor, timestampMs, entry.Issuer, digest, leafBuffer)];
            write.Put(StateKeys.WriteLeafKey(leafIndex, leafKey), leafBytes);
            staged.Digests.Add(new TailEntry(digest, entry.Issuer, leafIndex));
            var hashAt = leafHashes.Count;
            CollectionsMarshal.SetCount(leafHashes, hashAt + MerkleHash.Size);
            MerkleHash.Leaf(leafBytes, CollectionsMarshal.AsSpan(leafHashes)[hashAt..]);
            seen.Add(digest, entry.Issuer, leafIndex);
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

            return TryFindKey(digest, issuer, StateKeys.DigestKey(digest, issuer), out index) && index < TreeSize;
        }

        // The tail before the store, as everywhere (an entry leaves the tail only once stored). The
        // store's entries are of older leaves than the tail's.
        var found = _tail.TryGetFirst(digest, out index) && index < TreeSize;
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

    /// <summary>The leaf of a digest key, from the tail or else the store (in that order: see <see cref="DigestIndexTail"/>).</summary>
    private bool TryFindKey(ReadOnlySpan<byte> digest, string issuer, byte[] digestKey, out ulong index)
    {
        if (_tail.TryGet(digest, issuer, out index))
        {
            return true;
        }

        var stored = _store.Get(digestKey);
        if (stored is null)
        {
            return false;
        }

        index = StateKeys.DecodeIndex(stored);
        return true;
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

    /// <summary>
    /// The digest keys a batch has given new leaves so far. Looked up only when the dedupe filter
    /// answers "maybe" (a repeat, or a false positive): the map is built at the first such look-up
    /// and kept from then on, so a batch without one never makes nor hashes its keys.
    /// </summary>
    private sealed class SeenInBatch(int capacity)
    {
        private readonly List<(byte[] Digest, string Issuer, ulong LeafIndex)> _added = new(capacity);
        private Dictionary<byte[], ulong>? _map;

        public void Add(byte[] digest, string issuer, ulong leafIndex)
        {
            _added.Add((digest, issuer, leafIndex));
            _map?.Add(StateKeys.DigestKey(digest, issuer), leafIndex);
        }

        public bool TryGet(byte[] key, out ulong leafIndex)
        {
            if (_map is null)
            {
                _map = new Dictionary<byte[], ulong>(_added.Capacity, ByteArrayComparer.Instance);
                foreach (var (digest, issuer, index) in _added)
                {
                    _map.Add(StateKeys.DigestKey(digest, issuer), index);
                }
            }

            return _map.TryGetValue(key, out leafIndex);
        }
    }

    /// <summary>Apply's writes by key prefix, so that they reach the store in key order with little sorting.</summary>
    private sealed class StagedWrites(int digests, int entries)
    {
        /// <summary>For the tail, not the write.</summary>
        public List<TailEntry> Digests { get; } = new(digests);

        public List<KeyValuePair<byte[], byte[]>> Nonces { get; } = new(entries);

        public void WriteInKeyOrder(IKeyValueBatch write)
        {
            Nonces.Sort(static (x, y) => x.Key.AsSpan().SequenceCompareTo(y.Key));
            foreach (var (key, value) in Nonces)
            {
                write.Put(key, value);
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
