using Ledger.TestKit;

namespace Ledger.Storage.Tests;

/// <summary>
/// A sorted run (<see cref="IKeyValueStore.CreateSortedRun"/>): pairs in strictly increasing key
/// order, one key family, visible together at the commit and not before; any other input is
/// refused and leaves the store as it was.
/// </summary>
public sealed class SortedRunTests
{
    public static TheoryData<StoreKind> Stores => [StoreKind.InMemory, StoreKind.RocksDb, StoreKind.RocksDbFamilies];

    private static byte[] Key(byte prefix, int i) => [prefix, (byte)(i >> 8), (byte)i];

    [Theory]
    [MemberData(nameof(Stores))]
    public void A_run_is_invisible_until_committed_then_readable_and_durable(StoreKind kind)
    {
        using var test = TestStore.Create(kind);
        foreach (var prefix in new byte[] { 0x01, 0x74, 0x30 })
        {
            // Keys already there, between and around the run's (a run may overlap stored keys).
            using (var batch = test.Store.CreateBatch())
            {
                batch.Put(Key(prefix, 1), [0xEE]);
                batch.Put(Key(prefix, 1_001), [0xEE]);
                test.Store.Write(batch, sync: true);
            }

            using (var run = test.Store.CreateSortedRun())
            {
                for (var i = 0; i < 1_000; i += 2)
                {
                    run.Put(Key(prefix, i), [(byte)i, prefix]);
                }

                Assert.Equal(500, run.Count);
                Assert.Null(test.Store.Get(Key(prefix, 0)));
                run.Commit();
            }

            Assert.Equal([2, prefix], test.Store.Get(Key(prefix, 2)));
            Assert.Equal([0xEE], test.Store.Get(Key(prefix, 1)));
        }

        test.Reopen();
        foreach (var prefix in new byte[] { 0x01, 0x74, 0x30 })
        {
            var keys = test.Store.Scan([prefix], [(byte)(prefix + 1)]).Select(pair => pair.Key).ToList();
            Assert.Equal(502, keys.Count);
            Assert.Equal([998 & 0xFF, prefix], test.Store.Get(Key(prefix, 998)));
            Assert.Null(test.Store.Get(Key(prefix, 999)));
        }
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public void A_run_overwrites_a_key_it_shares_with_the_store(StoreKind kind)
    {
        using var test = TestStore.Create(kind);
        using (var batch = test.Store.CreateBatch())
        {
            batch.Put(Key(0x01, 5), [1]);
            test.Store.Write(batch, sync: true);
        }

        using (var run = test.Store.CreateSortedRun())
        {
            run.Put(Key(0x01, 4), [2]);
            run.Put(Key(0x01, 5), [2]);
            run.Commit();
        }

        Assert.Equal([2], test.Store.Get(Key(0x01, 5)));
        test.Reopen();
        Assert.Equal([2], test.Store.Get(Key(0x01, 5)));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public void Keys_out_of_order_or_of_two_families_are_refused_and_nothing_is_written(StoreKind kind)
    {
        using var test = TestStore.Create(kind);
        using (var run = test.Store.CreateSortedRun())
        {
            run.Put(Key(0x01, 2), [1]);
            var backwards = Assert.Throws<ArgumentException>(() => run.Put(Key(0x01, 1), [1]));
            Assert.Contains("strictly increasing", backwards.Message);
            var again = Assert.Throws<ArgumentException>(() => run.Put(Key(0x01, 2), [1]));
            Assert.Contains("strictly increasing", again.Message);
            var shorter = Assert.Throws<ArgumentException>(() => run.Put([0x01, 0x00], [1]));
            Assert.Contains("strictly increasing", shorter.Message);
            var family = Assert.Throws<ArgumentException>(() => run.Put(Key(0x02, 0), [1]));
            Assert.Contains("one family", family.Message);
            Assert.Throws<ArgumentException>(() => run.Put([], [1]));
            Assert.Throws<ArgumentException>(() => run.Put(new byte[KeyValueLimits.KeyBytesMax + 1], [1]));
            Assert.Equal(1, run.Count);

            // Not committed: disposed with its one good pair.
        }

        Assert.Null(test.Store.Get(Key(0x01, 2)));
        Assert.Empty(test.Store.Scan([0x01], [0x02]));
        Assert.Empty(test.Store.Scan([0x02], [0x03]));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public void A_run_commits_once_and_takes_nothing_after(StoreKind kind)
    {
        using var test = TestStore.Create(kind);
        using var run = test.Store.CreateSortedRun();
        run.Put(Key(0x01, 1), [1]);
        run.Commit();
        Assert.Throws<InvalidOperationException>(run.Commit);
        Assert.Throws<InvalidOperationException>(() => run.Put(Key(0x01, 2), [1]));
        Assert.Null(test.Store.Get(Key(0x01, 2)));
        Assert.Equal([1], test.Store.Get(Key(0x01, 1)));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public void An_empty_run_commits_nothing(StoreKind kind)
    {
        using var test = TestStore.Create(kind);
        using (var run = test.Store.CreateSortedRun())
        {
            Assert.Equal(0, run.Count);
            run.Commit();
        }

        Assert.Empty(test.Store.Scan([0x01], [0x02]));
        if (test.Store is RocksDbKeyValueStore rocks)
        {
            Assert.False(Directory.Exists(rocks.RunsFolder) && Directory.EnumerateFiles(rocks.RunsFolder).Any());
        }
    }

    [Fact]
    public void A_second_open_of_a_store_in_use_fails_and_leaves_the_run_being_written_alone()
    {
        using var temp = new TempDirectory("ledger-storage-tests");
        var folder = temp.Path;
        using var store = RocksDbKeyValueStore.Open(folder, families: TestStore.Families);
        using var run = store.CreateSortedRun();
        run.Put(Key(0x01, 1), [1]);
        Assert.ThrowsAny<Exception>(() => RocksDbKeyValueStore.Open(folder, families: TestStore.Families).Dispose());
        Assert.Single(Directory.GetFiles(store.RunsFolder));
        run.Commit();
        Assert.Equal([1], store.Get(Key(0x01, 1)));
    }

    [Fact]
    public void A_run_file_left_by_a_stop_before_its_commit_is_removed_at_open_and_never_read()
    {
        using var temp = new TempDirectory("ledger-storage-tests");
        var folder = temp.Path;
        string leftOver;
        using (var store = RocksDbKeyValueStore.Open(folder, families: TestStore.Families))
        {
            var run = store.CreateSortedRun();
            run.Put(Key(0x01, 1), [1]);

            // The file being written, as a crash would leave it (the run is neither committed nor disposed).
            leftOver = Assert.Single(Directory.GetFiles(store.RunsFolder));
            File.Copy(leftOver, leftOver + ".copy");
            run.Dispose();
            Assert.False(File.Exists(leftOver));
            File.Move(leftOver + ".copy", leftOver);
        }

        using (var reopened = RocksDbKeyValueStore.Open(folder, families: TestStore.Families))
        {
            Assert.Empty(Directory.GetFiles(reopened.RunsFolder));
            Assert.Null(reopened.Get(Key(0x01, 1)));
        }
    }
}
