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

    private readonly ColumnFamilyHandle?[] _familyByFirstByte = new ColumnFamilyHandle?[256];
    private readonly IReadOnlyList<KeyFamily> _families;

    private readonly BlockBasedTableOptions _table;
    private readonly IngestExternalFileOptions _ingest = new IngestExternalFileOptions().SetMoveFiles(true);

    private RocksDbKeyValueStore(RocksDb database, string path, Action<StorageCorruptException>? onCorruption, IReadOnlyList<KeyFamily> families, BlockBasedTableOptions table)
    {
        _database = database;
        _path = path;
        _table = table;
        _onCorruption = onCorruption;
        _families = families;
        foreach (var family in families)
        {
            _familyByFirstByte[family.Prefix] = database.GetColumnFamily(family.Name);
        }
    }

    /// <summary>Shared block cache of a database, in bytes: recent tiles, leaves and index blocks.</summary>
    public const ulong BlockCacheBytes = 128UL << 20;

    /// <summary>
    /// Write-ahead log kept before RocksDB flushes the column families that hold its oldest part. A
    /// log file is dropped only once every family with data in it has flushed, and a family that
    /// grows slowly (tiles, nonces) flushed late: 98-128 MB of log to replay after a kill -9 at
    /// 1.8-1.9 M digests, and 2.1 s to open, against 25 MB and 1.0 s with this bound.
    /// </summary>
    public const ulong WriteAheadLogBytesMax = 64UL << 20;

    /// <summary>Bloom filter bits per key: lookups of absent keys (a digest never anchored) skip the disk.</summary>
    public const int BloomBitsPerKey = 10;

    /// <summary>
    /// Opens the database in <paramref name="path"/>, creating it when absent. <paramref name="onCorruption"/>
    /// hears of every damage found later, before the call that found it throws. Keys that start with
    /// one of <paramref name="families"/>' prefixes live in that family's column family, with its own
    /// memtable and table files: random keys (a digest index) are then compacted apart from keys
    /// written in order (leaves, tiles), which RocksDB would otherwise rewrite with them at every
    /// compaction. Keys of a family found in the default column family (a store written before the
    /// family existed) are moved into it at open.
    /// </summary>
    public static RocksDbKeyValueStore Open(string path, Action<StorageCorruptException>? onCorruption = null, IReadOnlyList<KeyFamily>? families = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        families ??= [];
        KeyFamily.CheckDistinct(families);
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
            .SetCreateMissingColumnFamilies(true)
            .SetBlockBasedTableFactory(table)
            .SetMaxBackgroundCompactions(2)
            .SetMaxTotalWalSize(WriteAheadLogBytesMax)
            .SetWalRecoveryMode(Recovery.TolerateCorruptedTailRecords);
        var columnFamilies = new ColumnFamilies(new ColumnFamilyOptions().SetBlockBasedTableFactory(table));
        foreach (var family in families)
        {
            columnFamilies.Add(family.Name, family.Options(table));
        }

        try
        {
            var store = new RocksDbKeyValueStore(RocksDb.Open(options, path, columnFamilies), path, onCorruption, families, table);
            try
            {
                // Only once the database is ours (RocksDB's lock): a second process opening the
                // same folder by mistake must not delete the run another one is writing.
                DeleteUnfinishedRuns(path);
                store.MoveKeysIntoFamilies();
            }
            catch
            {
                store.Dispose();
                throw;
            }

            return store;
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
            var family = FamilyOf(key);
            return family is null ? _database.Get(key) : _database.Get(key, family);
        }
        catch (RocksDbException exception) when (IsCorruption(exception))
        {
            throw Damaged(exception);
        }
    }

    public IKeyValueBatch CreateBatch() => new Batch(this);

    /// <summary>
    /// A sorted run goes into a table file of its own, written beside the database and then ingested
    /// into the family's first level (RocksDB's external file ingestion: the file is synced and
    /// linked, and the manifest records it): no write-ahead log, no memtable insert, no flush.
    /// </summary>
    public ISortedRunWriter CreateSortedRun() => new SortedRun(this);

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
        var flushOptions = new FlushOptions().SetWaitForFlush(true);
        _database.Flush(flushOptions);
        foreach (var family in _families)
        {
            Native.Instance.rocksdb_flush_cf(_database.Handle, flushOptions.Handle, _familyByFirstByte[family.Prefix]!.Handle);
        }
    }

    public IEnumerable<KeyValuePair<byte[], byte[]>> Scan(ReadOnlySpan<byte> fromKeyInclusive, ReadOnlySpan<byte> toKeyExclusive) =>
        ScanRange(fromKeyInclusive.ToArray(), toKeyExclusive.ToArray());

    /// <summary>Like <see cref="Scan"/>, but keys are read in place (no copy) and values not at all.</summary>
    public long ScanKeys(ReadOnlySpan<byte> fromKeyInclusive, ReadOnlySpan<byte> toKeyExclusive, KeyVisitor visit)
    {
        if (fromKeyInclusive.SequenceCompareTo(toKeyExclusive) >= 0)
        {
            return 0;
        }

        var family = FamilyOfRange(fromKeyInclusive, toKeyExclusive);
        var upperBound = toKeyExclusive.ToArray();
        var readOptions = new ReadOptions().SetIterateUpperBound(upperBound);
        using var iterator = _database.NewIterator(family, readOptions);
        long count = 0;
        for (iterator.Seek(fromKeyInclusive); iterator.Valid(); iterator.Next())
        {
            visit(iterator.GetKeySpan());
            count++;
        }

        ThrowIfFailed(iterator);
        GC.KeepAlive(readOptions);
        GC.KeepAlive(upperBound);
        return count;
    }

    public void Dispose() => _database.Dispose();

    private IEnumerable<KeyValuePair<byte[], byte[]>> ScanRange(byte[] fromKeyInclusive, byte[] toKeyExclusive)
    {
        if (fromKeyInclusive.AsSpan().SequenceCompareTo(toKeyExclusive) >= 0)
        {
            yield break;
        }

        var family = FamilyOfRange(fromKeyInclusive, toKeyExclusive);
        var readOptions = new ReadOptions().SetIterateUpperBound(toKeyExclusive);
        using var iterator = _database.NewIterator(family, readOptions);
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

    private ColumnFamilyHandle? FamilyOf(ReadOnlySpan<byte> key) => key.IsEmpty ? null : _familyByFirstByte[key[0]];

    /// <summary>The column family a scan reads: a range lies within one family, or touches none (a programmer error otherwise).</summary>
    private ColumnFamilyHandle? FamilyOfRange(ReadOnlySpan<byte> fromKeyInclusive, ReadOnlySpan<byte> toKeyExclusive)
    {
        var family = FamilyOf(fromKeyInclusive);
        if (family is not null)
        {
            // The family's keys end below [prefix + 1], or with the key space for prefix 0xFF.
            ReadOnlySpan<byte> familyEnd = [(byte)(fromKeyInclusive[0] + 1)];
            if (fromKeyInclusive[0] != byte.MaxValue && toKeyExclusive.SequenceCompareTo(familyEnd) > 0)
            {
                throw new ArgumentException("a scan cannot run past the end of a key family", nameof(toKeyExclusive));
            }

            return family;
        }

        foreach (var other in _families)
        {
            ReadOnlySpan<byte> start = [other.Prefix];
            if (fromKeyInclusive.SequenceCompareTo(start) < 0 && toKeyExclusive.SequenceCompareTo(start) > 0)
            {
                throw new ArgumentException($"a scan cannot run into the key family '{other.Name}'", nameof(toKeyExclusive));
            }
        }

        return null;
    }

    /// <summary>Keys moved into a family per synced write at open (<see cref="MoveKeysIntoFamilies"/>).</summary>
    internal const int MoveKeysPerWriteMax = 100_000;

    /// <summary>
    /// Moves keys of each family that sit in the default column family into the family, in synced
    /// atomic chunks: a crash midway leaves every key in one place or the other, and the next open
    /// finishes. Each chunk seeks from the last key the previous one moved, not over its deletions
    /// again. Costs one seek per family when there is nothing to move.
    /// </summary>
    private void MoveKeysIntoFamilies()
    {
        foreach (var family in _families)
        {
            var handle = _familyByFirstByte[family.Prefix]!;
            byte[] start = [family.Prefix];
            while (true)
            {
                using var write = new WriteBatch();
                var count = 0;
                using (var iterator = _database.NewIterator())
                {
                    for (iterator.Seek(start); iterator.Valid() && count < MoveKeysPerWriteMax; iterator.Next())
                    {
                        var key = iterator.Key();
                        if (key[0] != family.Prefix)
                        {
                            break;
                        }

                        write.Put(key, iterator.Value(), handle);
                        write.Delete(key);
                        start = key;
                        count++;
                    }

                    ThrowIfFailed(iterator);
                }

                if (count == 0)
                {
                    break;
                }

                _database.Write(write, _syncedWrite);
            }
        }
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

    /// <summary>Where sorted runs are written before they are ingested; emptied at open.</summary>
    internal string RunsFolder => RunsFolderOf(_path);

    private static string RunsFolderOf(string path) => Path.Combine(path, "runs");

    /// <summary>A run's file left by a stop before its commit was never part of the store.</summary>
    private static void DeleteUnfinishedRuns(string path)
    {
        var folder = RunsFolderOf(path);
        if (Directory.Exists(folder))
        {
            foreach (var file in Directory.EnumerateFiles(folder))
            {
                File.Delete(file);
            }
        }
    }

    /// <summary>A key never written, deleted in the default family by a synced write before a run is ingested.</summary>
    private static readonly byte[] SyncBarrierKey = [0x00];

    private sealed class SortedRun(RocksDbKeyValueStore owner) : ISortedRunWriter
    {
        private readonly SortedRunOrder _order = new();
        private SstFileWriter? _writer;
        private ColumnFamilyOptions? _options;
        private ColumnFamilyHandle? _family;
        private string? _file;

        public int Count { get; private set; }

        public unsafe void Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
        {
            _order.Next(key);
            if (_writer is null)
            {
                var prefix = key[0];
                _family = owner._familyByFirstByte[prefix] ?? owner._database.GetDefaultColumnFamily();
                var family = owner._families.FirstOrDefault(candidate => candidate.Prefix == prefix);
                _options = family?.Options(owner._table) ?? new ColumnFamilyOptions().SetBlockBasedTableFactory(owner._table);
                Directory.CreateDirectory(owner.RunsFolder);
                _file = Path.Combine(owner.RunsFolder, Guid.NewGuid().ToString("N") + ".sst");
                _writer = new SstFileWriter(new EnvOptions(), _options);
                _writer.Open(_file);
            }

            fixed (byte* keyBytes = key)
            fixed (byte* valueBytes = value)
            {
                Native.Instance.rocksdb_sstfilewriter_put(_writer.Handle, keyBytes, (UIntPtr)key.Length, valueBytes, (UIntPtr)value.Length);
            }

            Count++;
        }

        public void Commit()
        {
            _order.Close();
            if (_writer is null)
            {
                return;
            }

            try
            {
                _writer.Finish();
                _writer.Dispose();
                _writer = null;

                // The run must not be on disk ahead of writes made before it that are not yet
                // synced (an index entry of a leaf that a power loss would then take back): one
                // synced write first, which syncs every earlier one with it.
                using (var barrier = new WriteBatch())
                {
                    barrier.Delete(SyncBarrierKey);
                    owner._database.Write(barrier, owner._syncedWrite);
                }

                owner._database.IngestExternalFiles([_file!], owner._ingest, _family);
            }
            catch (RocksDbException exception) when (IsCorruption(exception))
            {
                throw owner.Damaged(exception);
            }
            finally
            {
                File.Delete(_file!);
            }
        }

        public void Dispose()
        {
            _writer?.Dispose();
            if (_file is not null)
            {
                File.Delete(_file);
            }

            GC.KeepAlive(_options);
        }
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
            var family = Owner.FamilyOf(key);
            if (family is null)
            {
                Native.Put(key, value);
            }
            else
            {
                Native.Put(key, value, family);
            }

            Count++;
        }

        public void Delete(ReadOnlySpan<byte> key)
        {
            KeyValueLimits.CheckKey(key);
            KeyValueLimits.CheckRoom(Count);
            var family = Owner.FamilyOf(key);
            if (family is null)
            {
                Native.Delete(key);
            }
            else
            {
                Native.Delete(key, family);
            }

            Count++;
        }

        public void Dispose() => Native.Dispose();
    }
}

/// <summary>
/// A column family of a <see cref="RocksDbKeyValueStore"/>: every key whose first byte is
/// <see cref="Prefix"/>. <see cref="RandomKeys"/>: its keys arrive in no order (a hash index), so
/// that every merge of level-0 files into the level below rewrites all of that level; such a family
/// merges <see cref="RandomKeysLevel0Files"/> files at a time instead of RocksDB's 4, which halves
/// how often that level is rewritten.
/// </summary>
public sealed record KeyFamily(string Name, byte Prefix, bool RandomKeys = false)
{
    /// <summary>
    /// Level-0 files that start a merge in a family of random keys. Measured with a 3-member
    /// consortium under `ledger bench --clients 16 --batch 100`: 85,500 digests/s on average over
    /// six 20 s runs against 77,700 with 4, each run faster than its pair.
    /// </summary>
    public const int RandomKeysLevel0Files = 8;

    /// <summary>Level-0 files at which writes to a family of random keys slow down (RocksDB's default: 20).</summary>
    public const int RandomKeysLevel0FilesSlowdown = 40;

    /// <summary>Level-0 files at which writes to a family of random keys stop until merges catch up (RocksDB's default: 36).</summary>
    public const int RandomKeysLevel0FilesStop = 60;

    internal ColumnFamilyOptions Options(BlockBasedTableOptions table)
    {
        var options = new ColumnFamilyOptions().SetBlockBasedTableFactory(table);
        if (RandomKeys)
        {
            options.SetLevel0FileNumCompactionTrigger(RandomKeysLevel0Files)
                .SetLevel0SlowdownWritesTrigger(RandomKeysLevel0FilesSlowdown)
                .SetLevel0StopWritesTrigger(RandomKeysLevel0FilesStop);
        }

        return options;
    }

    internal static void CheckDistinct(IReadOnlyList<KeyFamily> families)
    {
        foreach (var family in families)
        {
            if (string.IsNullOrEmpty(family.Name) || family.Name == "default")
            {
                throw new ArgumentException($"a key family needs a name other than 'default', not '{family.Name}'", nameof(families));
            }
        }

        if (families.Select(family => family.Prefix).Distinct().Count() != families.Count
            || families.Select(family => family.Name).Distinct(StringComparer.Ordinal).Count() != families.Count)
        {
            throw new ArgumentException("key families need distinct names and prefixes", nameof(families));
        }
    }
}
