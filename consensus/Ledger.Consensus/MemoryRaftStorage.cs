namespace Ledger.Consensus;

/// <summary>
/// An in-memory <see cref="IRaftStorage"/> for tests, simulation and benchmarks. Memory handed out by
/// <see cref="Entries"/> is never written again: growth and truncation copy into a fresh array.
/// </summary>
public sealed class MemoryRaftStorage : IRaftStorage
{
    private const int InitialCapacityEntries = 1024;

    private readonly Membership _genesis;
    private Entry[] _entries = new Entry[InitialCapacityEntries];
    private ulong _count = 1; // position 0 is the sentinel (term 0, index 0)
    private HardState _hardState;

    /// <summary>Creates an empty log with the given genesis membership.</summary>
    public MemoryRaftStorage(Membership genesisMembership) => _genesis = genesisMembership;

    /// <inheritdoc/>
    public RaftInitialState InitialState => new(_hardState, _genesis);

    /// <summary>The persisted hard state.</summary>
    public HardState HardState => _hardState;

    /// <inheritdoc/>
    public ulong LastIndex => _count - 1;

    /// <inheritdoc/>
    public ulong Term(ulong index)
    {
        Invariant.Check(index < _count, $"term of index {index} beyond last {_count - 1}");
        return _entries[index].Term;
    }

    /// <inheritdoc/>
    public ReadOnlyMemory<Entry> Entries(ulong fromIndex, ulong toIndexExclusive, ulong maxBytes)
    {
        Invariant.Check(fromIndex >= 1 && fromIndex <= toIndexExclusive && toIndexExclusive <= _count, $"entries [{fromIndex},{toIndexExclusive}) outside [1,{_count})");
        ulong end = fromIndex;
        ulong bytes = 0;
        while (end < toIndexExclusive)
        {
            bytes += _entries[end].SizeBytes;
            if (bytes > maxBytes && end > fromIndex)
            {
                break;
            }

            end++;
        }

        return new ReadOnlyMemory<Entry>(_entries, (int)fromIndex, (int)(end - fromIndex));
    }

    /// <summary>Stores the hard state.</summary>
    public void SetHardState(HardState hardState) => _hardState = hardState;

    /// <summary>Appends entries; the first may overwrite the tail (everything from its index on is dropped first).</summary>
    public void Append(ReadOnlySpan<Entry> entries)
    {
        if (entries.IsEmpty)
        {
            return;
        }

        ulong first = entries[0].Index;
        Invariant.Check(first >= 1 && first <= _count, $"append at {first} leaves a gap after {_count - 1}");
        if (first < _count)
        {
            TruncateFrom(first);
        }

        EnsureCapacity(_count + (ulong)entries.Length);
        for (int i = 0; i < entries.Length; i++)
        {
            Invariant.Check(entries[i].Index == _count, "appended entries must be contiguous");
            _entries[_count] = entries[i];
            _count++;
        }
    }

    /// <summary>Drops entries at <paramref name="index"/> and after (a torn or lost write).</summary>
    public void TruncateFrom(ulong index)
    {
        Invariant.Check(index >= 1, "the sentinel cannot be truncated");
        if (index >= _count)
        {
            return;
        }

        var fresh = new Entry[_entries.Length];
        Array.Copy(_entries, fresh, (int)index);
        _entries = fresh;
        _count = index;
    }

    private void EnsureCapacity(ulong needed)
    {
        if (needed <= (ulong)_entries.Length)
        {
            return;
        }

        Invariant.Check(needed < int.MaxValue, "in-memory log too large");
        var bigger = new Entry[Math.Max((ulong)_entries.Length * 2, needed)];
        Array.Copy(_entries, bigger, (int)_count);
        _entries = bigger;
    }
}
