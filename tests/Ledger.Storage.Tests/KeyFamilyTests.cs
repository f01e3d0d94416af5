using RocksDbSharp;

namespace Ledger.Storage.Tests;

/// <summary>Column families by first key byte: routing, moving a store written without them, and the limits of scans.</summary>
public sealed class KeyFamilyTests : IDisposable
{
    private static readonly IReadOnlyList<KeyFamily> Families = [new("digits", (byte)'d'), new("last", 0xFF)];
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "ledger-storage-tests-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }

    [Fact]
    public void A_family_of_random_keys_merges_eight_level_0_files_at_a_time_and_the_others_four()
    {
        KeyFamily[] families = [new("random", (byte)'r', RandomKeys: true), new("ordered", (byte)'o')];
        using (var store = RocksDbKeyValueStore.Open(_folder, families: families))
        {
            using var write = store.CreateBatch();
            write.Put([(byte)'r', 1], [1]);
            store.Write(write, sync: true);
        }

        // RocksDB records each family's options in its OPTIONS file.
        var optionsFile = Directory.GetFiles(_folder, "OPTIONS-*").Order(StringComparer.Ordinal).Last();
        var sections = new Dictionary<string, Dictionary<string, string>>();
        Dictionary<string, string>? current = null;
        foreach (var line in File.ReadLines(optionsFile).Select(line => line.Trim()))
        {
            if (line.StartsWith('['))
            {
                current = sections[line] = [];
            }
            else if (current is not null && line.Split('=', 2) is [var name, var value])
            {
                current[name.Trim()] = value.Trim();
            }
        }

        string Setting(string family, string name) => sections[$"[CFOptions \"{family}\"]"][name];
        Assert.Equal("8", Setting("random", "level0_file_num_compaction_trigger"));
        Assert.Equal("40", Setting("random", "level0_slowdown_writes_trigger"));
        Assert.Equal("60", Setting("random", "level0_stop_writes_trigger"));
        Assert.Equal("4", Setting("ordered", "level0_file_num_compaction_trigger"));
        Assert.Equal("4", Setting("default", "level0_file_num_compaction_trigger"));
        Assert.Equal("20", Setting("ordered", "level0_slowdown_writes_trigger"));
    }

    [Fact]
    public void A_store_written_without_families_is_moved_into_them_at_open_and_reads_the_same()
    {
        byte[] prefixes = [(byte)'c', (byte)'d', (byte)'e', 0xFF];
        var keys = Enumerable.Range(0, 2_500).Select(i => new[] { prefixes[i % 4], (byte)(i >> 8), (byte)i }).ToList();
        using (var plain = RocksDbKeyValueStore.Open(_folder))
        {
            using var write = plain.CreateBatch();
            foreach (var key in keys)
            {
                write.Put(key, [.. key, 1]);
            }

            plain.Write(write, sync: true);
        }

        for (var open = 0; open < 2; open++)
        {
            using var store = RocksDbKeyValueStore.Open(_folder, families: Families);
            Assert.All(keys, key => Assert.Equal([.. key, 1], store.Get(key)));
            foreach (var prefix in prefixes)
            {
                var expected = keys.Where(key => key[0] == prefix).Select(Convert.ToHexString).Order(StringComparer.Ordinal);
                var end = prefix == 0xFF ? new byte[] { 0xFF, 0xFF, 0xFF, 0xFF } : [(byte)(prefix + 1)];
                Assert.Equal(expected, store.Scan([prefix], end).Select(pair => Convert.ToHexString(pair.Key)));
            }
        }

        // The family's keys left the default column family: nothing of 'd' or 0xFF is read there.
        Assert.Equal(0, CountInDefaultFamily((byte)'d'));
        Assert.Equal(0, CountInDefaultFamily(0xFF));
        Assert.Equal(keys.Count(key => key[0] == (byte)'c'), CountInDefaultFamily((byte)'c'));
    }

    [Fact]
    public void A_move_of_more_keys_than_one_write_holds_takes_them_all_in_order()
    {
        var count = (2 * RocksDbKeyValueStore.MoveKeysPerWriteMax) + 7;
        using (var plain = RocksDbKeyValueStore.Open(_folder))
        {
            using var write = plain.CreateBatch();
            for (var i = 0; i < count; i++)
            {
                write.Put([(byte)'d', (byte)(i >> 16), (byte)(i >> 8), (byte)i], [(byte)i]);
            }

            write.Put("e"u8, "after"u8);
            plain.Write(write, sync: true);
        }

        using (var store = RocksDbKeyValueStore.Open(_folder, families: Families))
        {
            var index = 0;
            Assert.Equal(count, store.ScanKeys("d"u8, "e"u8, key =>
            {
                Assert.Equal([(byte)'d', (byte)(index >> 16), (byte)(index >> 8), (byte)index], key.ToArray());
                index++;
            }));
            Assert.Equal("after"u8.ToArray(), store.Get("e"u8));
        }

        Assert.Equal(0, CountInDefaultFamily((byte)'d'));
        Assert.Equal(1, CountInDefaultFamily((byte)'e'));
    }

    [Fact]
    public void Writes_deletes_and_reopen_route_each_key_to_its_family()
    {
        using (var store = RocksDbKeyValueStore.Open(_folder, families: Families))
        {
            using var write = store.CreateBatch();
            write.Put("d1"u8, "in digits"u8);
            write.Put("d2"u8, "gone"u8);
            write.Put("c1"u8, "in default"u8);
            write.Delete("d2"u8);
            store.Write(write, sync: true);
            Assert.Null(store.Get("d2"u8));
        }

        using (var reopened = RocksDbKeyValueStore.Open(_folder, families: Families))
        {
            Assert.Equal("in digits"u8.ToArray(), reopened.Get("d1"u8));
            Assert.Equal("in default"u8.ToArray(), reopened.Get("c1"u8));
            Assert.Null(reopened.Get("d2"u8));
            reopened.Flush();
        }

        Assert.Equal(0, CountInDefaultFamily((byte)'d'));
        Assert.Equal(1, CountInDefaultFamily((byte)'c'));
    }

    [Fact]
    public void A_scan_that_runs_across_a_family_boundary_is_refused()
    {
        using var store = RocksDbKeyValueStore.Open(_folder, families: Families);
        using (var write = store.CreateBatch())
        {
            write.Put("c"u8, "1"u8);
            write.Put("d"u8, "2"u8);
            write.Put("e"u8, "3"u8);
            store.Write(write, sync: false);
        }

        Assert.Throws<ArgumentException>(() => store.Scan("c"u8, "e"u8).ToList());
        Assert.Throws<ArgumentException>(() => store.Scan("d"u8, "f"u8).ToList());
        Assert.Throws<ArgumentException>(() => store.Scan([0x00], [0xFF, 0x01]).ToList());
        Assert.Equal(["c"], store.Scan("c"u8, "d"u8).Select(pair => System.Text.Encoding.ASCII.GetString(pair.Key)));
        Assert.Equal(["e"], store.Scan("e"u8, [0xFF]).Select(pair => System.Text.Encoding.ASCII.GetString(pair.Key)));
    }

    [Fact]
    public void Families_need_distinct_names_and_prefixes_other_than_the_default()
    {
        Assert.Throws<ArgumentException>(() => RocksDbKeyValueStore.Open(_folder, families: [new("a", 1), new("b", 1)]));
        Assert.Throws<ArgumentException>(() => RocksDbKeyValueStore.Open(_folder, families: [new("a", 1), new("a", 2)]));
        Assert.Throws<ArgumentException>(() => RocksDbKeyValueStore.Open(_folder, families: [new("default", 1)]));
        Assert.Throws<ArgumentException>(() => RocksDbKeyValueStore.Open(_folder, families: [new("", 1)]));
        Assert.False(Directory.Exists(_folder));
    }

    [Fact]
    public void The_write_ahead_log_stays_bounded_while_one_family_grows_and_another_barely_changes()
    {
        using var store = RocksDbKeyValueStore.Open(_folder, families: Families);
        var value = new byte[64 * 1024];
        var written = 0UL;
        for (var i = 0; written < 3 * RocksDbKeyValueStore.WriteAheadLogBytesMax; i++)
        {
            // Each write changes one small key in the default family and adds a large one to 'd',
            // as apply does with its applied position and its digest index.
            System.Security.Cryptography.RandomNumberGenerator.Fill(value);
            using var write = store.CreateBatch();
            write.Put("applied"u8, BitConverter.GetBytes(i));
            write.Put([(byte)'d', .. BitConverter.GetBytes(i)], value);
            store.Write(write, sync: false);
            written += (ulong)value.Length;
        }

        var logBytes = Directory.EnumerateFiles(_folder, "*.log").Sum(path => new FileInfo(path).Length);
        Assert.True(
            (ulong)logBytes <= 2 * RocksDbKeyValueStore.WriteAheadLogBytesMax,
            $"{logBytes} bytes of write-ahead log after {written} bytes written");
    }

    /// <summary>Keys starting with <paramref name="prefix"/> in the default column family, read with RocksDB directly.</summary>
    private int CountInDefaultFamily(byte prefix)
    {
        var columnFamilies = new ColumnFamilies();
        foreach (var family in Families)
        {
            columnFamilies.Add(family.Name, new ColumnFamilyOptions());
        }

        using var database = RocksDb.Open(new DbOptions(), _folder, columnFamilies);
        using var iterator = database.NewIterator();
        var count = 0;
        for (iterator.Seek([prefix]); iterator.Valid() && iterator.Key()[0] == prefix; iterator.Next())
        {
            count++;
        }

        return count;
    }
}
