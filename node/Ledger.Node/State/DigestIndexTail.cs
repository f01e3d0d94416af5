using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
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
/// size so that the open one's map stays small enough for the processor's caches; a run merges
/// several sealed generations. Apply is the only writer; readers on other threads take the lock.
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
    /// generations in key order: each generation sorted on its own (its entries fit the
    /// processor's caches), then the sorted generations merged. Every key is distinct: each
    /// generation holds a digest once per issuer, and a digest an issuer has already anchored gets
    /// no new leaf.
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

        var sorted = new Slot[runs.Length][];
        var positions = new int[runs.Length];
        try
        {
            for (var r = 0; r < runs.Length; r++)
            {
                sorted[r] = Sorted(runs[r]);
            }

            Span<byte> key = stackalloc byte[DigestKeyBytesMax];
            Span<byte> value = stackalloc byte[8];
            var issuerBytes = new IssuerBytes();
            while (true)
            {
                // The smallest head: the fewer than thirty generations of a run make a linear scan cheap.
                var best = -1;
                for (var r = 0; r < runs.Length; r++)
                {
                    if (positions[r] < runs[r].Count
                        && (best < 0 || CompareKeys(sorted[r][positions[r]], sorted[best][positions[best]]) < 0))
                    {
                        best = r;
                    }
                }

                if (best < 0)
                {
                    break;
                }

                ref readonly var slot = ref sorted[best][positions[best]++];
                BinaryPrimitives.WriteUInt64BigEndian(value, slot.LeafIndex);
                write.Put(slot.WriteKey(key, issuerBytes.Of(slot.Issuer)), value);
            }
        }
        finally
        {
            foreach (var run in sorted)
            {
                if (run is not null)
                {
                    ArrayPool<Slot>.Shared.Return(run, clearArray: true);
                }
            }
        }
    }

    /// <summary>
    /// A copy of <paramref name="run"/>'s entries in key order, in an array from the shared pool:
    /// sorted by the first eight digest bytes (a sort of numbers, not of the entries), then, among
    /// the rare entries that share those, by the rest of the key; then copied in that order, so
    /// that the merge reads each generation in order rather than one entry here and one there
    /// across all of them.
    /// </summary>
    private static Slot[] Sorted(Generation run)
    {
        var prefixes = ArrayPool<ulong>.Shared.Rent(run.Count);
        var order = ArrayPool<int>.Shared.Rent(run.Count);
        try
        {
            for (var i = 0; i < run.Count; i++)
            {
                prefixes[i] = run.Slots[i].Digest.A;
                order[i] = i;
            }

            Array.Sort(prefixes, order, 0, run.Count);
            for (int start = 0, end; start < run.Count; start = end)
            {
                for (end = start + 1; end < run.Count && prefixes[end] == prefixes[start]; end++)
                {
                }

                if (end - start > 1)
                {
                    var slots = run.Slots;
                    Array.Sort(order, start, end - start, Comparer<int>.Create((x, y) => CompareKeys(slots[x], slots[y])));
                }
            }

            var copy = ArrayPool<Slot>.Shared.Rent(run.Count);
            for (var i = 0; i < run.Count; i++)
            {
                copy[i] = run.Slots[order[i]];
            }

            return copy;
        }
        finally
        {
            ArrayPool<ulong>.Shared.Return(prefixes);
            ArrayPool<int>.Shared.Return(order);
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
            if (!ReferenceEquals(issuer, _last))
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
