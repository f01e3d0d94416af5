using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using System.Text;
using Ledger.Sdk;
using Ledger.Storage;

namespace Ledger.Node.State;

/// <summary>
/// The newest part of the digest index, held in memory: the entries of leaves applied since the
/// store's index was last written. <see cref="LedgerState"/> writes them to the store in long runs
/// in key order (<see cref="Seal"/>, <see cref="WriteSealed"/>, <see cref="Written"/>): the store
/// takes such a run as one table file of its own (<see cref="IKeyValueStore.CreateSortedRun"/>),
/// where random keys inserted one by one would each be a search among every key already buffered.
/// <para>
/// Generations: the open one, which apply adds to, and the sealed ones, each closed at a bounded
/// size so that the open one's map stays small enough for the processor's caches; a run writes
/// several sealed generations together, in one key order. Apply is the only writer; readers on other threads take the lock.
/// An entry leaves the tail only after the store holds it, so a reader that looks here first and
/// then in the store never misses an applied digest.
/// </para>
/// </summary>
internal sealed class DigestIndexTail
{
    private readonly Lock _lock = new();
    private readonly List<Generation> _sealed = [];
    private readonly Stack<Generation> _spares = new();
    private readonly int _generationSize;
    private Generation _open;

    /// <param name="generationSize">Entries at which <see cref="Add"/> closes the open generation.</param>
    public DigestIndexTail(int generationSize)
    {
        Invariant.Check(generationSize > 0);
        _generationSize = generationSize;
        _open = new Generation(generationSize);
    }

    /// <summary>Entries in the open generation (read by apply, the only writer).</summary>
    public int OpenCount => _open.Count;

    /// <summary>Sealed generations not yet written, those being written included.</summary>
    public int SealedCount
    {
        get
        {
            lock (_lock)
            {
                return _sealed.Count;
            }
        }
    }

    /// <summary>
    /// Adds the entries of applied leaves, in increasing leaf index order, closing the open
    /// generation whenever it reaches its size (it then covers the tree up to the leaf of its last
    /// entry). A digest the same issuer already has in the open generation keeps its leaf.
    /// </summary>
    public void Add(IReadOnlyList<TailEntry> entries)
    {
        lock (_lock)
        {
            foreach (var entry in entries)
            {
                _open.Add(DigestValue.Of(entry.Digest), entry.Issuer, entry.LeafIndex);
                if (_open.Count == _generationSize)
                {
                    SealLocked(entry.LeafIndex + 1);
                }
            }
        }
    }

    /// <summary>The leaf of <paramref name="digest"/> anchored by <paramref name="issuer"/>, if the tail holds it.</summary>
    public bool TryGet(ReadOnlySpan<byte> digest, string issuer, out ulong leafIndex)
    {
        var value = DigestValue.Of(digest);
        lock (_lock)
        {
            if (_open.TryGet(value, issuer, out leafIndex))
            {
                return true;
            }

            foreach (var generation in _sealed)
            {
                if (generation.TryGet(value, issuer, out leafIndex))
                {
                    return true;
                }
            }

            return false;
        }
    }

    /// <summary>The lowest leaf the tail holds for <paramref name="digest"/>, whatever the issuer.</summary>
    public bool TryGetFirst(ReadOnlySpan<byte> digest, out ulong leafIndex)
    {
        var value = DigestValue.Of(digest);
        lock (_lock)
        {
            // Sealed generations hold older, hence lower, leaves than later ones and the open one.
            foreach (var generation in _sealed)
            {
                if (generation.TryGet(value, issuer: null, out leafIndex))
                {
                    return true;
                }
            }

            return _open.TryGet(value, issuer: null, out leafIndex);
        }
    }

    /// <summary>Calls <paramref name="visit"/> with every digest key the tail holds; returns how many.</summary>
    public int VisitKeys(KeyVisitor visit)
    {
        Span<byte> key = stackalloc byte[DigestKeyBytesMax];
        var issuerBytes = new IssuerBytes();
        lock (_lock)
        {
            var count = 0;
            foreach (var generation in _sealed.Append(_open))
            {
                for (var i = 0; i < generation.Count; i++)
                {
                    ref readonly var slot = ref generation.Slots[i];
                    visit(slot.WriteKey(key, issuerBytes.Of(slot.Issuer)));
                    count++;
                }
            }

            return count;
        }
    }

    private const int DigestKeyBytesMax = 1 + Leaf.DigestLength + Names.LengthMax;

    /// <summary>
    /// Closes the open generation before it is full (for a stop): later entries go to a new one,
    /// and its entries stay readable here until <see cref="Written"/>. <paramref name="treeSize"/>:
    /// the tree size it covers, every leaf below it having its entry in this generation or an
    /// earlier one.
    /// </summary>
    public void Seal(ulong treeSize)
    {
        lock (_lock)
        {
            SealLocked(treeSize);
        }
    }

    private void SealLocked(ulong treeSize)
    {
        _open.SealedAtTreeSize = treeSize;
        _sealed.Add(_open);
        _open = _spares.TryPop(out var spare) ? spare : new Generation(_generationSize);
    }

    /// <summary>The tree size the first <paramref name="count"/> sealed generations cover (<see cref="Seal"/>).</summary>
    public ulong SealedTreeSize(int count)
    {
        lock (_lock)
        {
            return _sealed[count - 1].SealedAtTreeSize;
        }
    }

    /// <summary>
    /// Stages the entries (value: u64 leaf index) of the first <paramref name="count"/> sealed
    /// generations in key order (<see cref="InKeyOrder"/>). Every key is distinct: each generation
    /// holds a digest once per issuer, and a digest an issuer has already anchored gets no new leaf.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void WriteSealed(ISortedRunWriter write, int count)
    {
        Generation[] runs;
        lock (_lock)
        {
            Invariant.Check(count > 0 && count <= _sealed.Count);
            runs = _sealed.Take(count).ToArray();
        }

        var total = runs.Sum(run => run.Count);
        var prefixes = ArrayPool<ulong>.Shared.Rent(total);
        var order = ArrayPool<long>.Shared.Rent(total);
        try
        {
            InKeyOrder(runs, total, prefixes, order);
            Span<byte> key = stackalloc byte[DigestKeyBytesMax];
            Span<byte> value = stackalloc byte[8];
            var issuerBytes = new IssuerBytes();
            for (var p = 0; p < total; p++)
            {
                // The entries are read in key order, so from anywhere in the run: ask for one ahead.
                if (p + PrefetchDistance < total)
                {
                    Prefetch(in SlotAt(runs, order[p + PrefetchDistance]));
                }

                ref readonly var slot = ref SlotAt(runs, order[p]);
                BinaryPrimitives.WriteUInt64BigEndian(value, slot.LeafIndex);
                write.Put(slot.WriteKey(key, issuerBytes.Of(slot.Issuer)), value);
            }
        }
        finally
        {
            ArrayPool<ulong>.Shared.Return(prefixes);
            ArrayPool<long>.Shared.Return(order);
        }
    }

    /// <summary>How many entries ahead <see cref="WriteSealed"/> asks the processor for.</summary>
    private const int PrefetchDistance = 8;

    /// <summary>Entries per bucket, on average, of <see cref="InKeyOrder"/>'s counting sort (as a power of two).</summary>
    private const int BucketEntriesLog2 = 4;

    /// <summary>At most 2^20 buckets (4 MiB of counts), whatever the run's size.</summary>
    private const int BucketBitsMax = 20;

    /// <summary>
    /// Fills <paramref name="order"/> with a reference (generation, slot: <see cref="SlotAt"/>) to
    /// each of the <paramref name="total"/> entries of <paramref name="runs"/>, in key order. Digests
    /// are hashes, so their first bits spread the entries evenly: a counting sort on those bits puts
    /// them in buckets of about 16 (two passes over the entries, no comparisons), each bucket is
    /// then sorted by the first eight digest bytes (<paramref name="prefixes"/>), and entries sharing
    /// those by the whole key. Chosen digests that crowd one bucket only make that bucket's sort
    /// longer: it is an O(n log n) sort, as is the one of a group sharing eight bytes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void InKeyOrder(Generation[] runs, int total, ulong[] prefixes, long[] order)
    {
        var bucketBits = Math.Clamp(BitOperations.Log2((uint)Math.Max(total, 1)) - BucketEntriesLog2, 0, BucketBitsMax);
        var buckets = 1 << bucketBits;
        var ends = ArrayPool<int>.Shared.Rent(buckets + 1);
        try
        {
            // ends[b + 1] counts bucket b; summed up, ends[b] is where bucket b starts.
            Array.Clear(ends, 0, buckets + 1);
            foreach (var run in runs)
            {
                for (var i = 0; i < run.Count; i++)
                {
                    ends[Bucket(run.Slots[i].Digest.A, bucketBits) + 1]++;
                }
            }

            for (var b = 1; b <= buckets; b++)
            {
                ends[b] += ends[b - 1];
            }

            // Placing an entry moves its bucket's start on: once all are placed, ends[b] is where bucket b ends.
            for (var r = 0; r < runs.Length; r++)
            {
                var slots = runs[r].Slots;
                for (var i = 0; i < runs[r].Count; i++)
                {
                    var at = ends[Bucket(slots[i].Digest.A, bucketBits)]++;
                    prefixes[at] = slots[i].Digest.A;
                    order[at] = ((long)r << 32) | (uint)i;
                }
            }

            Invariant.Check(ends[buckets - 1] == total);
            for (int b = 0, from = 0; b < buckets; from = ends[b], b++)
            {
                if (ends[b] - from > 1)
                {
                    SortBucket(runs, prefixes.AsSpan(from, ends[b] - from), order.AsSpan(from, ends[b] - from));
                }
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(ends);
        }
    }

    private static int Bucket(ulong prefix, int bucketBits) => bucketBits == 0 ? 0 : (int)(prefix >> (64 - bucketBits));

    private static void SortBucket(Generation[] runs, Span<ulong> prefixes, Span<long> order)
    {
        prefixes.Sort(order);
        for (int start = 0, end; start < prefixes.Length; start = end)
        {
            for (end = start + 1; end < prefixes.Length && prefixes[end] == prefixes[start]; end++)
            {
            }

            if (end - start > 1)
            {
                order[start..end].Sort((x, y) => CompareKeys(SlotAt(runs, x), SlotAt(runs, y)));
            }
        }
    }

    private static ref readonly Slot SlotAt(Generation[] runs, long reference) =>
        ref runs[(int)(reference >> 32)].Slots[(int)(uint)reference];

    private static unsafe void Prefetch(in Slot slot)
    {
        if (Sse.IsSupported)
        {
            // A hint only: should the collector move the array meanwhile, nothing is read from the old place.
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.AsRef(in slot)));
        }
    }

    /// <summary>The ASCII bytes of the issuer names met, kept for one pass over the tail (few issuers, many entries each).</summary>
    private sealed class IssuerBytes
    {
        private readonly Dictionary<string, byte[]> _known = new(StringComparer.Ordinal);
        private string? _last;
        private byte[] _lastBytes = [];

        public ReadOnlySpan<byte> Of(string issuer)
        {
            // Each request's entries carry a string of their own: compare the text before hashing it.
            if (!string.Equals(issuer, _last, StringComparison.Ordinal))
            {
                if (!_known.TryGetValue(issuer, out var bytes))
                {
                    bytes = Encoding.ASCII.GetBytes(issuer);
                    _known[issuer] = bytes;
                }

                _last = issuer;
                _lastBytes = bytes;
            }

            return _lastBytes;
        }
    }

    /// <summary>The first <paramref name="count"/> sealed generations are in the store: drop them (their memory is kept for later generations).</summary>
    public void Written(int count)
    {
        lock (_lock)
        {
            Invariant.Check(count > 0 && count <= _sealed.Count);
            foreach (var generation in _sealed.Take(count))
            {
                // Kept for reuse: there are never more generations than apply lets gather.
                generation.Clear();
                _spares.Push(generation);
            }

            _sealed.RemoveRange(0, count);
        }
    }

    /// <summary>Orders two entries as their digest keys order: digest bytes, then issuer name (ASCII, so ordinal).</summary>
    private static int CompareKeys(in Slot x, in Slot y)
    {
        if (x.Digest.A != y.Digest.A)
        {
            return x.Digest.A < y.Digest.A ? -1 : 1;
        }

        var byDigest = x.Digest.CompareTo(y.Digest);
        return byDigest != 0 ? byDigest : string.CompareOrdinal(x.Issuer, y.Issuer);
    }

    /// <summary>
    /// Entries in adding order, each digest's entries (one per issuer) chained from the first, and a
    /// map from digest to its first entry: one map for both lookups, by digest and issuer and by
    /// digest alone. Entries are values in arrays, not objects, so that the garbage collector has
    /// nothing to trace in them however many the tail holds.
    /// </summary>
    private sealed class Generation(int capacity)
    {
        private readonly Dictionary<DigestValue, int> _firstByDigest = new(capacity, DigestValueComparer.Instance);

        public Slot[] Slots { get; } = new Slot[capacity];

        public int Count { get; private set; }

        /// <summary>Once sealed, the tree size it covers (<see cref="Seal"/>).</summary>
        public ulong SealedAtTreeSize { get; set; }

        public void Add(DigestValue digest, string issuer, ulong leafIndex)
        {
            // The tail closes a generation when it is full: it never grows.
            Invariant.Check(Count < Slots.Length);
            ref var first = ref CollectionsMarshal.GetValueRefOrAddDefault(_firstByDigest, digest, out var exists);
            if (!exists)
            {
                first = Count;
            }
            else
            {
                // Another issuer's entry for this digest (or the same issuer again: kept as it was).
                var last = first;
                while (true)
                {
                    if (string.Equals(Slots[last].Issuer, issuer, StringComparison.Ordinal))
                    {
                        return;
                    }

                    if (Slots[last].Next < 0)
                    {
                        break;
                    }

                    last = Slots[last].Next;
                }

                Slots[last].Next = Count;
            }

            Slots[Count++] = new Slot(digest, issuer, leafIndex, -1);
        }

        /// <summary>With an <paramref name="issuer"/>, that issuer's entry; otherwise the digest's first entry.</summary>
        public bool TryGet(DigestValue digest, string? issuer, out ulong leafIndex)
        {
            leafIndex = 0;
            if (!_firstByDigest.TryGetValue(digest, out var at))
            {
                return false;
            }

            for (; at >= 0; at = Slots[at].Next)
            {
                if (issuer is null || string.Equals(Slots[at].Issuer, issuer, StringComparison.Ordinal))
                {
                    leafIndex = Slots[at].LeafIndex;
                    return true;
                }
            }

            return false;
        }

        public void Clear()
        {
            _firstByDigest.Clear();
            Array.Clear(Slots, 0, Count);
            Count = 0;
        }
    }

    private record struct Slot(DigestValue Digest, string Issuer, ulong LeafIndex, int Next)
    {
        /// <summary>
        /// Writes the digest key (<see cref="StateKeys.DigestKey"/>) into <paramref name="buffer"/>,
        /// given the issuer's name in ASCII; returns the part of the buffer used.
        /// </summary>
        public readonly ReadOnlySpan<byte> WriteKey(Span<byte> buffer, ReadOnlySpan<byte> issuerAscii)
        {
            buffer[0] = StateKeys.DigestIndex;
            Digest.CopyTo(buffer[1..]);
            issuerAscii.CopyTo(buffer[(1 + Leaf.DigestLength)..]);
            return buffer[..(1 + Leaf.DigestLength + issuerAscii.Length)];
        }
    }

    /// <summary>A digest as four big-endian words: equal digests, equal values; compared word by word, as the bytes compare.</summary>
    private readonly record struct DigestValue(ulong A, ulong B, ulong C, ulong D) : IComparable<DigestValue>
    {
        public int CompareTo(DigestValue other)
        {
            var result = A.CompareTo(other.A);
            result = result != 0 ? result : B.CompareTo(other.B);
            result = result != 0 ? result : C.CompareTo(other.C);
            return result != 0 ? result : D.CompareTo(other.D);
        }

        public static DigestValue Of(ReadOnlySpan<byte> digest)
        {
            Invariant.Check(digest.Length == Leaf.DigestLength);
            return new DigestValue(
                BinaryPrimitives.ReadUInt64BigEndian(digest),
                BinaryPrimitives.ReadUInt64BigEndian(digest[8..]),
                BinaryPrimitives.ReadUInt64BigEndian(digest[16..]),
                BinaryPrimitives.ReadUInt64BigEndian(digest[24..]));
        }

        public void CopyTo(Span<byte> destination)
        {
            BinaryPrimitives.WriteUInt64BigEndian(destination, A);
            BinaryPrimitives.WriteUInt64BigEndian(destination[8..], B);
            BinaryPrimitives.WriteUInt64BigEndian(destination[16..], C);
            BinaryPrimitives.WriteUInt64BigEndian(destination[24..], D);
        }
    }

    /// <summary>
    /// Hashes with <see cref="HashCode"/>, seeded at random per process: issuers choose their
    /// digests, and must not be able to pick a set that all falls in one bucket.
    /// </summary>
    private sealed class DigestValueComparer : IEqualityComparer<DigestValue>
    {
        public static readonly DigestValueComparer Instance = new();

        public bool Equals(DigestValue x, DigestValue y) => x == y;

        public int GetHashCode(DigestValue value) => HashCode.Combine(value.A, value.B, value.C, value.D);
    }
}

/// <summary>One digest index entry of an applied leaf.</summary>
internal readonly record struct TailEntry(byte[] Digest, string Issuer, ulong LeafIndex);
