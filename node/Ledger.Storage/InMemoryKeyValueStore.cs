namespace Ledger.Storage;

/// <summary>
/// An ordered store in process memory, for tests, benchmarks and tools. Thread-safe; a write is
/// atomic with respect to readers; <c>sync</c> has nothing to flush. Gets are hash lookups; scans
/// seek in a sorted set of keys (O(log n + k)) and return a snapshot.
/// </summary>
public sealed class InMemoryKeyValueStore : IKeyValueStore
{
    private readonly Dictionary<byte[], byte[]> _entries = new(ByteKeyComparer.Instance);
    private readonly SortedSet<byte[]> _orderedKeys = new(ByteKeyComparer.Instance);
    private readonly Lock _lock = new();
    private bool _disposed;

    /// <summary>Pairs currently stored.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _entries.Count;
            }
        }
    }

    public byte[]? Get(ReadOnlySpan<byte> key)
    {
        var keyCopy = key.ToArray();
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _entries.TryGetValue(keyCopy, out var value) ? (byte[])value.Clone() : null;
        }
    }

    public IKeyValueBatch CreateBatch() => new Batch(this);

    public void Write(IKeyValueBatch batch, bool sync)
    {
        if (batch is not Batch ours || ours.Owner != this)
        {
            throw new ArgumentException("the batch was not created by this store", nameof(batch));
        }

        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            foreach (var (key, value) in ours.Operations)
            {
                if (value is null)
                {
                    _entries.Remove(key);
                    _orderedKeys.Remove(key);
                }
                else
                {
                    _entries[key] = value;
                    _orderedKeys.Add(key);
                }
            }
        }
    }

    public IEnumerable<KeyValuePair<byte[], byte[]>> Scan(ReadOnlySpan<byte> fromKeyInclusive, ReadOnlySpan<byte> toKeyExclusive)
    {
        var pairs = new List<KeyValuePair<byte[], byte[]>>();
        var from = fromKeyInclusive.ToArray();
        var to = toKeyExclusive.ToArray();
        if (ByteKeyComparer.Instance.Compare(from, to) >= 0)
        {
            return pairs;
        }

        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            foreach (var key in _orderedKeys.GetViewBetween(from, to))
            {
                if (ByteKeyComparer.Instance.Compare(key, to) < 0)
                {
                    pairs.Add(new((byte[])key.Clone(), (byte[])_entries[key].Clone()));
                }
            }
        }

        return pairs;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            _entries.Clear();
            _orderedKeys.Clear();
        }
    }

    private sealed class Batch(InMemoryKeyValueStore owner) : IKeyValueBatch
    {
        public InMemoryKeyValueStore Owner { get; } = owner;

        /// <summary>Staged operations in order; a null value is a delete.</summary>
        public List<(byte[] Key, byte[]? Value)> Operations { get; } = [];

        public int Count => Operations.Count;

        public void Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
        {
            KeyValueLimits.CheckKey(key);
            KeyValueLimits.CheckRoom(Operations.Count);
            Operations.Add((key.ToArray(), value.ToArray()));
        }

        public void Delete(ReadOnlySpan<byte> key)
        {
            KeyValueLimits.CheckKey(key);
            KeyValueLimits.CheckRoom(Operations.Count);
            Operations.Add((key.ToArray(), null));
        }

        public void Dispose() => Operations.Clear();
    }
}
