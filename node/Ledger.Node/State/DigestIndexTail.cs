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
/// in key order (<see cref="Seal"/>, <see cref="WriteSealed"/>, <see cref="Written"/>), because
/// RocksDB inserts such a run of random keys several times faster than the few hundred keys of
/// one batch: with the memtable holding hundreds of thousands of keys, each key of a small batch
/// is a search from the top of the skip list, while the next key of a long sorted run is a few
/// steps from the last.
/// <para>
/// Two generations: the open one, which apply adds to, and at most one sealed one, being written.
/// Apply is the only writer; readers on other threads take the lock. An entry leaves the tail only
/// after the store holds it, so a reader that looks here first and then in the store never misses
/// an applied digest.
/// </para>
/// </summary>
internal sealed class DigestIndexTail
{
    private readonly Lock _lock = new();
    private Generation _open = new();
    private Generation? _sealed;
    private Generation? _spare;

    /// <summary>Entries in the open generation (read by apply, the only writer).</summary>
    public int OpenCount => _open.Count;

    /// <summary>
    /// Adds the entries of applied leaves, in increasing leaf index order. A digest the same issuer
    /// already has here keeps its leaf.
    /// </summary>
    public void Add(IReadOnlyList<TailEntry> entries)
    {
        lock (_lock)
        {
            foreach (var entry in entries)
            {
                _open.Add(DigestValue.Of(entry.Digest), entry.Issuer, entry.LeafIndex);
            }
        }
    }

    /// <summary>The leaf of <paramref name="digest"/> anchored by <paramref name="issuer"/>, if the tail holds it.</summary>
    public bool TryGet(ReadOnlySpan<byte> digest, string issuer, out ulong leafIndex)
    {
        var value = DigestValue.Of(digest);
        lock (_lock)
        {
            return _open.TryGet(value, issuer, out leafIndex)
                || (_sealed is not null && _sealed.TryGet(value, issuer, out leafIndex));
        }
    }

    /// <summary>The lowest leaf the tail holds for <paramref name="digest"/>, whatever the issuer.</summary>
    public bool TryGetFirst(ReadOnlySpan<byte> digest, out ulong leafIndex)
    {
        var value = DigestValue.Of(digest);
        lock (_lock)
        {
            // The sealed generation holds the older, hence lower, leaves.
            return (_sealed is not null && _sealed.TryGet(value, issuer: null, out leafIndex))
                || _open.TryGet(value, issuer: null, out leafIndex);
        }
    }

    /// <summary>Calls <paramref name="visit"/> with every digest key the tail holds; returns how many.</summary>
    public int VisitKeys(KeyVisitor visit)
    {
        Span<byte> key = stackalloc byte[DigestKeyBytesMax];
        lock (_lock)
        {
            var count = 0;
            foreach (var generation in (Generation?[])[_sealed, _open])
            {
                for (var i = 0; i < (generation?.Count ?? 0); i++)
                {
                    visit(generation!.Slots[i].WriteKey(key));
                    count++;
                }
            }

            return count;
        }
    }

    private const int DigestKeyBytesMax = 1 + Leaf.DigestLength + Names.LengthMax;

    /// <summary>
    /// Closes the open generation for writing (<see cref="WriteSealed"/>); its entries stay readable
    /// here until <see cref="Written"/>. Only one sealed generation at a time.
    /// </summary>
    public void Seal()
    {
        lock (_lock)
        {
            Invariant.Check(_sealed is null);
            _sealed = _open;
            _open = _spare ?? new Generation();
            _spare = null;
        }
    }

    /// <summary>
    /// Stages the sealed generation's entries (value: u64 leaf index) in the order of their keys'
    /// first eight digest bytes: sorted enough for RocksDB's sequential insert path, and a sort of
    /// numbers rather than byte strings. The order is only for speed; every key is distinct.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void WriteSealed(IKeyValueBatch write)
    {
        var run = _sealed;
        Invariant.Check(run is not null);
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
            Span<byte> key = stackalloc byte[DigestKeyBytesMax];
            Span<byte> value = stackalloc byte[8];
            for (var i = 0; i < run.Count; i++)
            {
                ref readonly var slot = ref run.Slots[order[i]];
                BinaryPrimitives.WriteUInt64BigEndian(value, slot.LeafIndex);
                write.Put(slot.WriteKey(key), value);
            }
        }
        finally
        {
            ArrayPool<ulong>.Shared.Return(prefixes);
            ArrayPool<int>.Shared.Return(order);
        }
    }

    /// <summary>The sealed generation is in the store: drop it (its memory is kept for a later generation).</summary>
    public void Written()
    {
        lock (_lock)
        {
            Invariant.Check(_sealed is not null);
            _sealed.Clear();
            _spare = _sealed;
            _sealed = null;
        }
    }

    /// <summary>
    /// Entries in adding order, each digest's entries (one per issuer) chained from the first, and a
    /// map from digest to its first entry: one map for both lookups, by digest and issuer and by
    /// digest alone. Entries are values in arrays, not objects, so that the garbage collector has
    /// nothing to trace in them however many the tail holds.
    /// </summary>
    private sealed class Generation
    {
        private readonly Dictionary<DigestValue, int> _firstByDigest = new(DigestValueComparer.Instance);

        public Slot[] Slots { get; private set; } = new Slot[1024];

        public int Count { get; private set; }

        public void Add(DigestValue digest, string issuer, ulong leafIndex)
        {
            if (Count == Slots.Length)
            {
                var grown = new Slot[Slots.Length * 2];
                Array.Copy(Slots, grown, Count);
                Slots = grown;
            }

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
        /// <summary>Writes the digest key (<see cref="StateKeys.DigestKey"/>) into <paramref name="buffer"/>; returns its part used.</summary>
        public readonly ReadOnlySpan<byte> WriteKey(Span<byte> buffer)
        {
            buffer[0] = StateKeys.DigestIndex;
            Digest.CopyTo(buffer[1..]);
            var issuerBytes = Encoding.ASCII.GetBytes(Issuer, buffer[(1 + Leaf.DigestLength)..]);
            return buffer[..(1 + Leaf.DigestLength + issuerBytes)];
        }
    }

    /// <summary>A digest as four big-endian words: equal digests, equal values; the first word orders like the bytes.</summary>
    private readonly record struct DigestValue(ulong A, ulong B, ulong C, ulong D)
    {
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
