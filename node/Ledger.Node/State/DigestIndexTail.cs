using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
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
    /// Adds the entries of applied leaves (digest keys as <see cref="StateKeys.DigestKey"/> makes
    /// them), in increasing leaf index order. A key already present keeps its leaf.
    /// </summary>
    public void Add(IReadOnlyList<TailEntry> entries)
    {
        lock (_lock)
        {
            foreach (var entry in entries)
            {
                _open.Add(entry.DigestKey, entry.LeafIndex);
            }
        }
    }

    /// <summary>The leaf of <paramref name="digestKey"/> (digest and issuer) if the tail holds it.</summary>
    public bool TryGet(byte[] digestKey, out ulong leafIndex)
    {
        lock (_lock)
        {
            return _open.TryGet(digestKey, exact: true, out leafIndex)
                || (_sealed is not null && _sealed.TryGet(digestKey, exact: true, out leafIndex));
        }
    }

    /// <summary>
    /// The lowest leaf the tail holds for the digest of <paramref name="digestPrefix"/>
    /// (<see cref="StateKeys.DigestPrefix"/>), whatever the issuer.
    /// </summary>
    public bool TryGetFirst(byte[] digestPrefix, out ulong leafIndex)
    {
        lock (_lock)
        {
            // The sealed generation holds the older, hence lower, leaves.
            return (_sealed is not null && _sealed.TryGet(digestPrefix, exact: false, out leafIndex))
                || _open.TryGet(digestPrefix, exact: false, out leafIndex);
        }
    }

    /// <summary>Calls <paramref name="visit"/> with every digest key the tail holds; returns how many.</summary>
    public int VisitKeys(Action<byte[]> visit)
    {
        lock (_lock)
        {
            var count = 0;
            foreach (var generation in (Generation?[])[_sealed, _open])
            {
                for (var i = 0; i < (generation?.Count ?? 0); i++)
                {
                    visit(generation!.Slots[i].Key);
                    count++;
                }
            }

            return count;
        }
    }

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
                prefixes[i] = BinaryPrimitives.ReadUInt64BigEndian(run.Slots[i].Key.AsSpan(1));
                order[i] = i;
            }

            Array.Sort(prefixes, order, 0, run.Count);
            Span<byte> value = stackalloc byte[8];
            for (var i = 0; i < run.Count; i++)
            {
                var slot = run.Slots[order[i]];
                BinaryPrimitives.WriteUInt64BigEndian(value, slot.LeafIndex);
                write.Put(slot.Key, value);
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
    /// Entries in adding order, each digest's entries (one per issuer) chained from the first,
    /// and a map from digest to its first entry. One map for both lookups: by digest key, and by
    /// digest alone.
    /// </summary>
    private sealed class Generation
    {
        private readonly Dictionary<byte[], int> _firstByDigest = new(DigestPartComparer.Instance);

        public Slot[] Slots { get; private set; } = new Slot[1024];

        public int Count { get; private set; }

        public void Add(byte[] digestKey, ulong leafIndex)
        {
            if (Count == Slots.Length)
            {
                var grown = new Slot[Slots.Length * 2];
                Array.Copy(Slots, grown, Count);
                Slots = grown;
            }

            ref var first = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_firstByDigest, digestKey, out var exists);
            if (!exists)
            {
                first = Count;
            }
            else
            {
                // Another issuer's entry for this digest (or the same key again: kept as it was).
                var last = first;
                while (true)
                {
                    if (Slots[last].Key.AsSpan().SequenceEqual(digestKey))
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

            Slots[Count++] = new Slot(digestKey, leafIndex, -1);
        }

        /// <summary>With <paramref name="exact"/>, the entry of this very key; otherwise the digest's first entry.</summary>
        public bool TryGet(byte[] key, bool exact, out ulong leafIndex)
        {
            leafIndex = 0;
            if (!_firstByDigest.TryGetValue(key, out var at))
            {
                return false;
            }

            for (; at >= 0; at = Slots[at].Next)
            {
                if (!exact || Slots[at].Key.AsSpan().SequenceEqual(key))
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

    private record struct Slot(byte[] Key, ulong LeafIndex, int Next);

    /// <summary>Compares digest keys and digest prefixes by their digest bytes only (1..32).</summary>
    private sealed class DigestPartComparer : IEqualityComparer<byte[]>
    {
        public static readonly DigestPartComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => Part(x).SequenceEqual(Part(y));

        public int GetHashCode(byte[] key)
        {
            var hash = new HashCode();
            hash.AddBytes(Part(key));
            return hash.ToHashCode();
        }

        private static ReadOnlySpan<byte> Part(byte[]? key)
        {
            Invariant.Check(key is not null && key.Length > Leaf.DigestLength);
            return key.AsSpan(1, Leaf.DigestLength);
        }
    }
}

/// <summary>One digest index entry of an applied leaf.</summary>
internal readonly record struct TailEntry(byte[] DigestKey, ulong LeafIndex);
