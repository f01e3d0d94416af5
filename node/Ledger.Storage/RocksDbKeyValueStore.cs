using RocksDbSharp;

namespace Ledger.Storage;

/// <summary>
/// The store on disk: one RocksDB database, default column family, default (bytewise) comparator.
/// A synced write fsyncs the write-ahead log before returning. Thread-safe as RocksDB is.
/// </summary>
public sealed class RocksDbKeyValueStore : IKeyValueStore
{
    private readonly RocksDb _database;
    private readonly WriteOptions _syncedWrite = new WriteOptions().SetSync(true);
    private readonly WriteOptions _bufferedWrite = new WriteOptions().SetSync(false);

    private RocksDbKeyValueStore(RocksDb database) => _database = database;

    /// <summary>Shared block cache of a database, in bytes: recent tiles, leaves and index blocks.</summary>
    public const ulong BlockCacheBytes = 128UL << 20;

    /// <summary>Bloom filter bits per key: lookups of absent keys (a digest never anchored) skip the disk.</summary>
    public const int BloomBitsPerKey = 10;

    /// <summary>Opens the database in <paramref name="path"/>, creating it when absent.</summary>
    public static RocksDbKeyValueStore Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Directory.CreateDirectory(path);
        var table = new BlockBasedTableOptions()
            .SetFilterPolicy(BloomFilterPolicy.Create(BloomBitsPerKey, false))
            .SetBlockCache(Cache.CreateLru(BlockCacheBytes))
            .SetCacheIndexAndFilterBlocks(true)
            .SetPinL0FilterAndIndexBlocksInCache(true);
        var options = new DbOptions()
            .SetCreateIfMissing(true)
            .SetBlockBasedTableFactory(table)
            .SetMaxBackgroundCompactions(2);
        return new RocksDbKeyValueStore(RocksDb.Open(options, path));
    }

    public byte[]? Get(ReadOnlySpan<byte> key) => _database.Get(key);

    public IKeyValueBatch CreateBatch() => new Batch(this);

    public void Write(IKeyValueBatch batch, bool sync)
    {
        if (batch is not Batch ours || ours.Owner != this)
        {
            throw new ArgumentException("the batch was not created by this store", nameof(batch));
        }

        _database.Write(ours.Native, sync ? _syncedWrite : _bufferedWrite);
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

        GC.KeepAlive(readOptions);
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
