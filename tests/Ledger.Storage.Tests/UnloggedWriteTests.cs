namespace Ledger.Storage.Tests;

/// <summary>Writes kept out of the write-ahead log: only on a store opened for them, whose column families flush together.</summary>
public sealed class UnloggedWriteTests : IDisposable
{
    private static readonly IReadOnlyList<KeyFamily> Families = [new("digits", (byte)'d'), new("last", 0xFF)];
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "ledger-storage-tests", Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }

    [Fact]
    public void A_store_opened_without_unlogged_writes_refuses_them_and_writes_nothing()
    {
        using var store = RocksDbKeyValueStore.Open(_folder, families: Families);
        using var write = store.CreateBatch();
        write.Put([(byte)'d', 1], [1]);
        var refused = Assert.Throws<InvalidOperationException>(() => store.WriteUnlogged(write));
        Assert.Contains("opened without unlogged writes", refused.Message, StringComparison.Ordinal);
        Assert.Null(store.Get([(byte)'d', 1]));
        Assert.Equal("false", DbOption("atomic_flush"));
    }

    [Fact]
    public void Unlogged_writes_stay_out_of_the_write_ahead_log_and_a_flush_keeps_them()
    {
        var value = new byte[64 * 1024];
        Random.Shared.NextBytes(value);
        byte[][] keys = [[(byte)'a', 1], [(byte)'d', 1], [0xFF, 1]];
        using (var store = RocksDbKeyValueStore.Open(_folder, families: Families, unloggedWrites: true))
        {
            Assert.Equal("true", DbOption("atomic_flush"));
            var logBefore = WriteAheadLogBytes();
            for (var round = 0; round < 16; round++)
            {
                using var write = store.CreateBatch();
                foreach (var key in keys)
                {
                    write.Put([.. key, (byte)round], value);
                }

                store.WriteUnlogged(write);
            }

            // 3 MiB written, none of it to the log; every key readable at once.
            Assert.True(WriteAheadLogBytes() - logBefore < 4096, $"the write-ahead log grew by {WriteAheadLogBytes() - logBefore} bytes");
            Assert.All(keys, key => Assert.Equal(value, store.Get([.. key, 15])));

            // The same store still logs ordinary writes: the measure above can see a log grow.
            using (var logged = store.CreateBatch())
            {
                logged.Put([(byte)'a', 2], value);
                store.Write(logged, sync: true);
            }

            Assert.True(WriteAheadLogBytes() - logBefore >= value.Length);
            store.Flush();
        }

        using var reopened = RocksDbKeyValueStore.Open(_folder, families: Families, unloggedWrites: true);
        foreach (var key in keys)
        {
            for (var round = 0; round < 16; round++)
            {
                Assert.Equal(value, reopened.Get([.. key, (byte)round]));
            }
        }
    }

    private long WriteAheadLogBytes() => Directory.GetFiles(_folder, "*.log").Sum(file => new FileInfo(file).Length);

    /// <summary>A database option as RocksDB recorded it in its newest OPTIONS file.</summary>
    private string DbOption(string name)
    {
        var optionsFile = Directory.GetFiles(_folder, "OPTIONS-*").Order(StringComparer.Ordinal).Last();
        var inDbOptions = false;
        foreach (var line in File.ReadLines(optionsFile).Select(line => line.Trim()))
        {
            if (line.StartsWith('['))
            {
                inDbOptions = line == "[DBOptions]";
            }
            else if (inDbOptions && line.Split('=', 2) is [var key, var value] && key.Trim() == name)
            {
                return value.Trim();
            }
        }

        throw new InvalidOperationException($"{name} is not in {optionsFile}");
    }
}
