namespace Ledger.Storage;

/// <summary>
/// An ordered byte-keyed store with atomic batches: the node's hot path (Raft log, leaves, tiles,
/// digest index, applied position) lives in one store and is written together in one batch.
/// Keys compare as unsigned bytes, lexicographically (shorter prefix first).
/// </summary>
public interface IKeyValueStore : IDisposable
{
    /// <summary>The value stored under <paramref name="key"/>, or <see langword="null"/> when there is none.</summary>
    byte[]? Get(ReadOnlySpan<byte> key);

    /// <summary>An empty batch for this store; nothing it holds is visible until <see cref="Write"/>.</summary>
    IKeyValueBatch CreateBatch();

    /// <summary>
    /// Applies every operation of <paramref name="batch"/> atomically, in the order staged. With
    /// <paramref name="sync"/> the write is on stable storage (write-ahead log fsynced) before returning.
    /// </summary>
    void Write(IKeyValueBatch batch, bool sync);

    /// <summary>The pairs with <paramref name="fromKeyInclusive"/> &lt;= key &lt; <paramref name="toKeyExclusive"/>, in key order.</summary>
    IEnumerable<KeyValuePair<byte[], byte[]>> Scan(ReadOnlySpan<byte> fromKeyInclusive, ReadOnlySpan<byte> toKeyExclusive);

    /// <summary>
    /// Calls <paramref name="visit"/> with every key in [<paramref name="fromKeyInclusive"/>,
    /// <paramref name="toKeyExclusive"/>) in order, without reading values; the span is valid only
    /// during the call. Returns how many keys it visited.
    /// </summary>
    long ScanKeys(ReadOnlySpan<byte> fromKeyInclusive, ReadOnlySpan<byte> toKeyExclusive, KeyVisitor visit)
    {
        long count = 0;
        foreach (var (key, _) in Scan(fromKeyInclusive, toKeyExclusive))
        {
            visit(key);
            count++;
        }

        return count;
    }
}

/// <summary>Receives one key of a <see cref="IKeyValueStore.ScanKeys"/>.</summary>
public delegate void KeyVisitor(ReadOnlySpan<byte> key);

/// <summary>Operations staged for one atomic <see cref="IKeyValueStore.Write"/>; keys and values are copied when staged.</summary>
public interface IKeyValueBatch : IDisposable
{
    /// <summary>Stages <paramref name="key"/> = <paramref name="value"/>.</summary>
    void Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value);

    /// <summary>Stages the removal of <paramref name="key"/>.</summary>
    void Delete(ReadOnlySpan<byte> key);

    /// <summary>Operations staged so far.</summary>
    int Count { get; }
}

/// <summary>Named bounds shared by the stores.</summary>
public static class KeyValueLimits
{
    /// <summary>Operations one batch may stage; a node cuts its work into batches well below this.</summary>
    public const int BatchOperationsMax = 4_000_000;

    /// <summary>Longest key accepted, in bytes.</summary>
    public const int KeyBytesMax = 1024;

    internal static void CheckKey(ReadOnlySpan<byte> key)
    {
        if (key.Length is 0 or > KeyBytesMax)
        {
            throw new ArgumentException($"key of {key.Length} bytes: keys hold 1..{KeyBytesMax} bytes", nameof(key));
        }
    }

    internal static void CheckRoom(int count)
    {
        if (count >= BatchOperationsMax)
        {
            throw new InvalidOperationException($"batch already holds {count} operations, the limit is {BatchOperationsMax}");
        }
    }
}
