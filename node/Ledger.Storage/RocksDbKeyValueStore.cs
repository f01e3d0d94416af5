using RocksDbSharp;

namespace Ledger.Storage;

/// <summary>
/// The store on disk: one RocksDB database, default column family, default (bytewise) comparator.
/// A synced write fsyncs the write-ahead log before returning. Thread-safe as RocksDB is.
/// Damage that RocksDB detects (a block or file checksum that does not match) surfaces as a
/// <see cref="StorageCorruptException"/>, after the store's corruption handler was told: a read
/// that hits a damaged block never returns less than the store holds, nor an answer made up.
/// </summary>
public sealed class RocksDbKeyValueStore : IKeyValueStore
{
    private readonly RocksDb _database;
    private readonly string _path;
    private readonly Action<StorageCorruptException>? _onCorruption;
    private readonly WriteOptions _syncedWrite = new WriteOptions().SetSync(true);
    private readonly WriteOptions _bufferedWrite = new WriteOptions().SetSync(false);

    private RocksDbKeyValueStore(RocksDb database, string path, Action<StorageCorruptException>? onCorruption)
    {
        _database = database;
        _path = path;
        _onCorruption = onCorruption;
    }

    /// <summary>Shared block cache of a database, in bytes: recent tiles, leaves and index blocks.</summary>
    public const ulong BlockCacheBytes = 128UL << 20;

    /// <summary>Bloom filter bits per key: lookups of absent keys (a digest never anchored) skip the disk.</summary>
    public const int BloomBitsPerKey = 10;

    /// <summary>
    /// Opens the database in <paramref name="path"/>, creating it when absent. <paramref name="onCorruption"/>
    /// hears of every damage found later, before the call that found it throws.
    /// </summary>
    public static RocksDbKeyValueStore Open(string path, Action<StorageCorruptException>? onCorruption = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Directory.CreateDirectory(path);
        var table = new BlockBasedTableOptions()
            .SetFilterPolicy(BloomFilterPolicy.Create(BloomBitsPerKey, false))
            .SetBlockCache(Cache.CreateLru(BlockCacheBytes))
            .SetCacheIndexAndFilterBlocks(true)
            .SetPinL0FilterAndIndexBlocksInCache(true);
        // RocksDB's default recovery (point in time) stops replaying the write-ahead log at the first
        // damaged record and opens with what came before: synced writes after it (Raft entries and
        // votes, acknowledged batches) would be forgotten without a word. A torn last record (a power
        // loss in the middle of a write) is still tolerated; damage anywhere else refuses the open.
        var options = new DbOptions()
            .SetCreateIfMissing(true)
            .SetBlockBasedTableFactory(table)
            .SetMaxBackgroundCompactions(2)
            .SetWalRecoveryMode(Recovery.TolerateCorruptedTailRecords);
        try
        {
            return new RocksDbKeyValueStore(RocksDb.Open(options, path), path, onCorruption);
        }
        catch (RocksDbException exception) when (IsCorruption(exception))
        {
            throw Damaged(path, exception, onCorruption);
        }
    }

    /// <summary>The folder the database lives in.</summary>
    public string Folder => _path;

    public byte[]? Get(ReadOnlySpan<byte> key)
    {
        try
        {
            return _database.Get(key);
        }
        catch (RocksDbException exception) when (IsCorruption(exception))
        {
            throw Damaged(exception);
        }
    }

    public IKeyValueBatch CreateBatch() => new Batch(this);

    public void Write(IKeyValueBatch batch, bool sync)
    {
        if (batch is not Batch ours || ours.Owner != this)
        {
            throw new ArgumentException("the batch was not created by this store", nameof(batch));
        }

        try
        {
            _database.Write(ours.Native, sync ? _syncedWrite : _bufferedWrite);
        }
        catch (RocksDbException exception) when (IsCorruption(exception))
        {
            throw Damaged(exception);
        }
    }

    /// <summary>
    /// Reads every block of every table file and checks its checksum (a scrub): damage in data no
    /// read has touched yet is found now rather than by the read that needs it.
    /// </summary>
    public void VerifyChecksums()
    {
        try
        {
            Native.Instance.rocksdb_verify_checksum(_database.Handle);
        }
        catch (RocksDbException exception) when (IsCorruption(exception))
        {
            throw Damaged(exception);
        }
    }

    /// <summary>Writes the memtable to table files, so that a restart has no write-ahead log to replay.</summary>
    public void Flush()
    {
        _database.Flush(new FlushOptions().SetWaitForFlush(true));
    }

    public IEnumerable<KeyValuePair<byte[], byte[]>> Scan(ReadOnlySpan<byte> fromKeyInclusive, ReadOnlySpan<byte> toKeyExclusive) =>
        ScanRange(fromKeyInclusive.ToArray(), toKeyExclusive.ToArray());

    public void Dispose() => _database.Dispose();

    private IEnumerable<KeyValuePair<byte[], byte[]>> ScanRange(byte[] fromKeyInclusive, byte[] toKeyExclusive)
    {
        if (fromKeyInclusive.AsSpan().SequenceCompareTo(toKeyExclusive) >= 0)
        {
            yield break;
        }

        var readOptions = new ReadOptions().SetIterateUpperBound(toKeyExclusive);
        using var iterator = _database.NewIterator(readOptions: readOptions);
        for (iterator.Seek(fromKeyInclusive); iterator.Valid(); iterator.Next())
        {
            var key = iterator.Key();
            if (key.AsSpan().SequenceCompareTo(toKeyExclusive) >= 0)
            {
                yield break;
            }

            yield return new(key, iterator.Value());
        }

        // An iterator stops (Valid is false) at the end of the range and also at a block it could
        // not read: only its status tells the two apart.
        ThrowIfFailed(iterator);
        GC.KeepAlive(readOptions);
    }

    private void ThrowIfFailed(Iterator iterator)
    {
        try
        {
            Native.Instance.rocksdb_iter_get_error(iterator.Handle);
        }
        catch (RocksDbException exception) when (IsCorruption(exception))
        {
            throw Damaged(exception);
        }
    }

    /// <summary>RocksDB names detected damage "Corruption" (a checksum mismatch, a bad block, a truncated file).</summary>
    private static bool IsCorruption(RocksDbException exception) =>
        exception.Message.StartsWith("Corruption", StringComparison.Ordinal);

    private StorageCorruptException Damaged(RocksDbException exception) => Damaged(_path, exception, _onCorruption);

    /// <summary>The exception for damage RocksDB found in the store at <paramref name="path"/>, after <paramref name="onCorruption"/> heard of it.</summary>
    private static StorageCorruptException Damaged(string path, RocksDbException exception, Action<StorageCorruptException>? onCorruption)
    {
        var damaged = new StorageCorruptException($"the store in {path} is damaged: {exception.Message}", exception);
        onCorruption?.Invoke(damaged);
        return damaged;
    }

    private sealed class Batch(RocksDbKeyValueStore owner) : IKeyValueBatch
    {
        public RocksDbKeyValueStore Owner { get; } = owner;

        public WriteBatch Native { get; } = new();

        public int Count { get; private set; }

        public void Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
        {
            KeyValueLimits.CheckKey(key);
            KeyValueLimits.CheckRoom(Count);
            Native.Put(key, value);
            Count++;
        }

        public void Delete(ReadOnlySpan<byte> key)
        {
            KeyValueLimits.CheckKey(key);
            KeyValueLimits.CheckRoom(Count);
            Native.Delete(key);
            Count++;
        }

        public void Dispose() => Native.Dispose();
    }
}
