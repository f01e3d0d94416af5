namespace Ledger.Storage.Tests;

public sealed class KeyValueStoreTests
{
    public static TheoryData<StoreKind> Stores => [StoreKind.InMemory, StoreKind.RocksDb, StoreKind.RocksDbFamilies];

    [Theory]
    [MemberData(nameof(Stores))]
    public void Batch_is_invisible_until_written_then_applied_in_order(StoreKind kind)
    {
        using var test = TestStore.Create(kind);
        var store = test.Store;
        using var batch = store.CreateBatch();
        batch.Put([1], [10]);
        batch.Put([2], [20]);
        batch.Delete([2]);
        batch.Put([1], [11]);
        Assert.Equal(4, batch.Count);
        Assert.Null(store.Get([1]));
        store.Write(batch, sync: true);
        Assert.Equal([11], store.Get([1]));
        Assert.Null(store.Get([2]));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public void Scan_is_ordered_as_unsigned_bytes_and_bounded(StoreKind kind)
    {
        using var test = TestStore.Create(kind);
        var store = test.Store;
        byte[][] keys = [[0x74, 0x80], [0x74], [0x74, 0x00, 0x01], [0x73, 0xFF], [0x75], [0x74, 0x7F], [0x74, 0xFF, 0xFF]];
        using (var batch = store.CreateBatch())
        {
            foreach (var key in keys)
            {
                batch.Put(key, key);
            }

            store.Write(batch, sync: false);
        }

        var scanned = store.Scan([0x74], [0x75]).Select(pair => Convert.ToHexString(pair.Key)).ToList();
        Assert.Equal(["74", "740001", "747F", "7480", "74FFFF"], scanned);
        Assert.All(store.Scan([0x74], [0x75]), pair => Assert.Equal(pair.Key, pair.Value));
        Assert.Equal(["7480"], store.Scan([0x74, 0x80], [0x74, 0xFF]).Select(pair => Convert.ToHexString(pair.Key)));
        Assert.Empty(store.Scan([0x75], [0x74]));
        Assert.Empty(store.Scan([0x74, 0x01], [0x74, 0x7F]));

        var visited = new List<string>();
        Assert.Equal(5, store.ScanKeys([0x74], [0x75], key => visited.Add(Convert.ToHexString(key))));
        Assert.Equal(["74", "740001", "747F", "7480", "74FFFF"], visited);
        Assert.Equal(0, store.ScanKeys([0x75], [0x74], _ => throw new InvalidOperationException("nothing to visit")));
        Assert.Equal(0, store.ScanKeys([0x74, 0x01], [0x74, 0x7F], _ => throw new InvalidOperationException("nothing to visit")));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public void Batch_of_another_store_and_bad_keys_are_rejected(StoreKind kind)
    {
        using var first = TestStore.Create(kind);
        using var second = TestStore.Create(kind);
        using var foreign = second.Store.CreateBatch();
        foreign.Put([1], [1]);
        Assert.Throws<ArgumentException>(() => first.Store.Write(foreign, sync: false));
        Assert.Null(first.Store.Get([1]));
        using var batch = first.Store.CreateBatch();
        Assert.Throws<ArgumentException>(() => batch.Put([], [1]));
        Assert.Throws<ArgumentException>(() => batch.Put(new byte[KeyValueLimits.KeyBytesMax + 1], [1]));
        Assert.Equal(0, batch.Count);
    }

    [Fact]
    public void RocksDb_write_survives_reopen()
    {
        using var test = TestStore.Create(StoreKind.RocksDb);
        using (var batch = test.Store.CreateBatch())
        {
            batch.Put("key"u8, "value"u8);
            test.Store.Write(batch, sync: true);
        }

        test.Reopen();
        Assert.Equal("value"u8.ToArray(), test.Store.Get("key"u8));
    }

    [Fact]
    public void Bounded_cache_evicts_the_least_recently_used()
    {
        var cache = new BoundedCache<int, string>(2);
        cache.Set(1, "one");
        cache.Set(2, "two");
        Assert.True(cache.TryGet(1, out _));
        cache.Set(3, "three");
        Assert.Equal(2, cache.Count);
        Assert.False(cache.TryGet(2, out _));
        Assert.True(cache.TryGet(1, out var one));
        Assert.Equal("one", one);
        Assert.True(cache.TryGet(3, out _));
        var disabled = new BoundedCache<int, string>(0);
        disabled.Set(1, "one");
        Assert.False(disabled.TryGet(1, out _));
    }
}
