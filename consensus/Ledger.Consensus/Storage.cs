namespace Ledger.Consensus;

/// <summary>
/// Read-only view of what the host made durable. The core reads the log through it and never writes:
/// the host appends <see cref="Ready.Entries"/> and stores <see cref="Ready.HardState"/> itself.
/// Index 0 is a sentinel with term 0; entries start at index 1 (no log compaction in this version).
/// </summary>
public interface IRaftStorage
{
    /// <summary>Hard state and genesis membership as persisted.</summary>
    RaftInitialState InitialState { get; }

    /// <summary>Index of the last durable entry, 0 when the log is empty.</summary>
    ulong LastIndex { get; }

    /// <summary>Term of the durable entry at <paramref name="index"/> (0 for index 0); index ≤ <see cref="LastIndex"/>.</summary>
    ulong Term(ulong index);

    /// <summary>
    /// Entries in [<paramref name="fromIndex"/>, <paramref name="toIndexExclusive"/>), stopping before
    /// <paramref name="maxBytes"/> is exceeded but always returning at least one entry of a non-empty
    /// range. The returned memory must not change afterwards (it may be referenced by messages).
    /// </summary>
    ReadOnlyMemory<Entry> Entries(ulong fromIndex, ulong toIndexExclusive, ulong maxBytes);
}

/// <summary>Source of randomness for election timeouts; inject a seeded one for determinism.</summary>
public interface IRaftRandom
{
    /// <summary>A uniformly distributed integer in [0, <paramref name="maxExclusive"/>).</summary>
    int NextInt(int maxExclusive);
}

/// <summary>A small seeded generator (SplitMix64); deterministic across platforms.</summary>
public sealed class SplitMix64Random : IRaftRandom
{
    private ulong _state;

    /// <summary>Creates the generator from a seed.</summary>
    public SplitMix64Random(ulong seed) => _state = seed;

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        _state += 0x9E3779B97F4A7C15UL;
        ulong z = _state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <inheritdoc/>
    public int NextInt(int maxExclusive)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxExclusive);
        return (int)(NextUInt64() % (ulong)maxExclusive);
    }
}
