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

    /// <summary>
    /// A writer of pairs given in strictly increasing key order, all in one key family, that become
    /// visible together at <see cref="ISortedRunWriter.Commit"/>. For long runs of keys that would
    /// otherwise each be inserted among many others (a hash index). By default, one batch.
    /// </summary>
    ISortedRunWriter CreateSortedRun() => new BatchSortedRun(this);

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

/// <summary>Pairs in strictly increasing key order, written together (<see cref="IKeyValueStore.CreateSortedRun"/>).</summary>
public interface ISortedRunWriter : IDisposable
{
    /// <summary>Stages <paramref name="key"/> = <paramref name="value"/>; the key must sort after the one staged before.</summary>
    void Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value);

    /// <summary>Pairs staged so far.</summary>
    int Count { get; }

    /// <summary>
    /// Makes every staged pair visible at once, durably, and not before every write made to the
    /// store before the call is durable too (as with a synced write). Once only.
    /// </summary>
    void Commit();
}

/// <summary>A sorted run written as one synced batch: the default for stores without a faster way.</summary>
internal sealed class BatchSortedRun(IKeyValueStore store) : ISortedRunWriter
{
    private readonly IKeyValueBatch _batch = store.CreateBatch();
    private readonly SortedRunOrder _order = new();

    public int Count => _batch.Count;

    public void Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        _order.Next(key);
        _batch.Put(key, value);
    }

    public void Commit()
    {
        _order.Close();
        store.Write(_batch, sync: true);
    }

    public void Dispose() => _batch.Dispose();
}

/// <summary>What every sorted run checks: one family, strictly increasing keys, nothing after the commit.</summary>
internal sealed class SortedRunOrder
{
    private readonly byte[] _last = new byte[KeyValueLimits.KeyBytesMax];
    private int _lastLength;
    private bool _closed;

    public void Next(ReadOnlySpan<byte> key)
    {
        ThrowIfClosed();
        KeyValueLimits.CheckKey(key);
        if (_lastLength > 0)
        {
            if (key.SequenceCompareTo(_last.AsSpan(0, _lastLength)) <= 0)
            {
                throw new ArgumentException("a sorted run takes keys in strictly increasing order", nameof(key));
            }

            if (key[0] != _last[0])
            {
                throw new ArgumentException("a sorted run holds the keys of one family (one first byte)", nameof(key));
            }
        }

        key.CopyTo(_last);
        _lastLength = key.Length;
    }

    public void Close()
    {
        ThrowIfClosed();
        _closed = true;
    }

    private void ThrowIfClosed()
    {
        if (_closed)
        {
            throw new InvalidOperationException("the sorted run was already committed");
        }
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
