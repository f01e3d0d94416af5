namespace Ledger.Storage;

/// <summary>A least-recently-used map holding at most <see cref="EntriesMax"/> entries. Thread-safe (one short lock).</summary>
internal sealed class BoundedCache<TKey, TValue>
    where TKey : notnull
{
    private readonly Dictionary<TKey, LinkedListNode<(TKey Key, TValue Value)>> _index;
    private readonly LinkedList<(TKey Key, TValue Value)> _recency = new();
    private readonly Lock _gate = new();

    public BoundedCache(int entriesMax)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(entriesMax);
        EntriesMax = entriesMax;
        _index = new Dictionary<TKey, LinkedListNode<(TKey, TValue)>>(Math.Min(entriesMax, 4096));
    }

    public int EntriesMax { get; }

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _index.Count;
            }
        }
    }

    public bool TryGet(TKey key, out TValue value)
    {
        lock (_gate)
        {
            if (_index.TryGetValue(key, out var node))
            {
                _recency.Remove(node);
                _recency.AddFirst(node);
                value = node.Value.Value;
                return true;
            }
        }

        value = default!;
        return false;
    }

    public void Set(TKey key, TValue value)
    {
        if (EntriesMax == 0)
        {
            return;
        }

        lock (_gate)
        {
            if (_index.TryGetValue(key, out var existing))
            {
                _recency.Remove(existing);
                _index.Remove(key);
            }
            else if (_index.Count >= EntriesMax)
            {
                var oldest = _recency.Last!;
                _recency.RemoveLast();
                _index.Remove(oldest.Value.Key);
            }

            _index[key] = _recency.AddFirst((key, value));
        }
    }

    public void Clear()
    {
        lock (_gate)
        {
            _index.Clear();
            _recency.Clear();
        }
    }
}
