using System.Collections.Concurrent;

namespace Ledger.Node.Admission;

/// <summary>
/// The (issuer, nonce) pairs accepted within the nonce window. A pair is reserved at admission,
/// released if the request fails before it reaches the log, and persisted by apply with the batch
/// that carries it, so that the set is rebuilt on restart. Entries older than the window are
/// forgotten: admission refuses any request whose issuedAtMs is outside the window anyway.
/// The count is kept beside the map: the map's own <c>Count</c> takes every one of its locks, and
/// admission asks for it on each request.
/// </summary>
internal sealed class NonceRegistry
{
    private readonly ConcurrentDictionary<string, ulong> _issuedAtMsByKey = new(StringComparer.Ordinal);
    private readonly ulong _windowMs;
    private readonly int _entriesMax;
    private int _count;

    public NonceRegistry(ulong windowMs, int entriesMax)
    {
        _windowMs = windowMs;
        _entriesMax = entriesMax;
    }

    public int Count => Volatile.Read(ref _count);

    /// <summary>True when the pair was free and is now reserved; false when it was already used.</summary>
    public bool TryReserve(string issuer, ReadOnlySpan<byte> nonce, ulong issuedAtMs)
    {
        if (!_issuedAtMsByKey.TryAdd(Key(issuer, nonce), issuedAtMs))
        {
            return false;
        }

        Interlocked.Increment(ref _count);
        return true;
    }

    public bool IsFull => Count >= _entriesMax;

    public void Release(string issuer, ReadOnlySpan<byte> nonce) => Remove(Key(issuer, nonce));

    /// <summary>Records a pair read back from storage (restart).</summary>
    public void Restore(string issuer, ReadOnlySpan<byte> nonce, ulong issuedAtMs)
    {
        var key = Key(issuer, nonce);
        if (_issuedAtMsByKey.TryAdd(key, issuedAtMs))
        {
            Interlocked.Increment(ref _count);
        }
        else
        {
            _issuedAtMsByKey[key] = issuedAtMs;
        }
    }

    /// <summary>Forgets pairs whose issuedAtMs is more than the window before <paramref name="nowMs"/>.</summary>
    public int Prune(ulong nowMs)
    {
        var oldestKeptMs = nowMs > _windowMs ? nowMs - _windowMs : 0;
        var removed = 0;
        foreach (var pair in _issuedAtMsByKey)
        {
            if (pair.Value < oldestKeptMs && Remove(pair.Key))
            {
                removed++;
            }
        }

        return removed;
    }

    private bool Remove(string key)
    {
        if (!_issuedAtMsByKey.TryRemove(key, out _))
        {
            return false;
        }

        Interlocked.Decrement(ref _count);
        return true;
    }

    private static string Key(string issuer, ReadOnlySpan<byte> nonce) => issuer + "/" + Convert.ToHexStringLower(nonce);
}
