using Ledger.Consensus;
using Ledger.Storage;
using Ledger.TestKit;

namespace Ledger.Replication.Tests;

public sealed class RaftLogStoreTests : IDisposable
{
    private static readonly Membership Genesis = new([1, 2, 3]);
    private readonly TempDirectory _dir = new("ledger-raftlog");

    public void Dispose() => _dir.Dispose();

    private static Entry[] Entries(ulong first, ulong term, int count) =>
        [.. Enumerable.Range(0, count).Select(i => new Entry(term, first + (ulong)i, EntryKind.Normal, new byte[] { (byte)(first + (ulong)i), (byte)term }))];

    private static void AssertLog(RaftLogStore log, params (ulong Index, ulong Term)[] expected)
    {
        Assert.Equal((ulong)expected.Length, log.LastIndex);
        var entries = log.Entries(1, log.LastIndex + 1, ulong.MaxValue).ToArray();
        Assert.Equal(expected, entries.Select(e => (e.Index, e.Term)));
        foreach (var (index, term) in expected)
        {
            Assert.Equal(term, log.Term(index));
            Assert.Equal(new[] { (byte)index, (byte)term }, entries[(int)index - 1].Data.ToArray());
        }
    }

    [Fact]
    public void Entries_and_hard_state_survive_a_reopen()
    {
        using (var store = RocksDbKeyValueStore.Open(_dir.Path))
        {
            var log = new RaftLogStore(store, Genesis);
            Assert.Equal(0UL, log.LastIndex);
            Assert.Equal(default, log.HardState);
            log.Persist(Entries(1, 1, 3), new HardState(1, 2, 0));
            log.Persist(Entries(4, 2, 2), new HardState(2, 3, 4));
        }

        using (var store = RocksDbKeyValueStore.Open(_dir.Path))
        {
            var log = new RaftLogStore(store, Genesis);
            Assert.Equal(new HardState(2, 3, 4), log.InitialState.HardState);
            Assert.Equal(Genesis, log.InitialState.GenesisMembership);
            AssertLog(log, (1, 1), (2, 1), (3, 1), (4, 2), (5, 2));
        }
    }

    [Fact]
    public void The_mark_that_votes_are_held_lasts_until_it_is_released()
    {
        using (var store = RocksDbKeyValueStore.Open(_dir.Path))
        {
            Assert.False(new RaftLogStore(store, Genesis).VotesHeld);
            using var write = store.CreateBatch();
            RaftLogStore.StageVotesHeld(write);
            store.Write(write, sync: true);
        }

        using (var store = RocksDbKeyValueStore.Open(_dir.Path))
        {
            var log = new RaftLogStore(store, Genesis);
            Assert.True(log.VotesHeld);
            log.Persist(Entries(1, 1, 2), new HardState(1, 1, 2));
            Assert.True(log.VotesHeld);
            log.ReleaseVotes();
            Assert.False(log.VotesHeld);
        }

        using (var store = RocksDbKeyValueStore.Open(_dir.Path))
        {
            var log = new RaftLogStore(store, Genesis);
            Assert.False(log.VotesHeld);
            AssertLog(log, (1, 1), (2, 1));
        }
    }

    [Fact]
    public void A_conflicting_append_replaces_the_tail_durably()
    {
        using (var store = RocksDbKeyValueStore.Open(_dir.Path))
        {
            var log = new RaftLogStore(store, Genesis);
            log.Persist(Entries(1, 1, 5), null);
            log.Persist(Entries(3, 2, 1), null);
            AssertLog(log, (1, 1), (2, 1), (3, 2));
        }

        using (var store = RocksDbKeyValueStore.Open(_dir.Path))
        {
            AssertLog(new RaftLogStore(store, Genesis), (1, 1), (2, 1), (3, 2));
        }
    }

    [Fact]
    public void Entries_beyond_the_cache_are_read_from_the_store_and_respect_max_bytes()
    {
        using var store = new InMemoryKeyValueStore();
        var log = new RaftLogStore(store, Genesis);
        var count = RaftLogStore.CachedEntriesMax + 100;
        log.Persist(Entries(1, 1, count), null);
        var first = log.Entries(1, 4, ulong.MaxValue).ToArray();
        Assert.Equal([1UL, 2, 3], first.Select(e => e.Index));
        var one = log.Entries(1, 10, maxBytes: 1).ToArray();
        Assert.Single(one);
        var two = log.Entries(1, 10, maxBytes: 2 * (Entry.EntryHeaderBytes + 2)).ToArray();
        Assert.Equal(2, two.Length);
    }

    [Fact]
    public void A_missing_entry_is_reported_as_damage()
    {
        using var store = new InMemoryKeyValueStore();
        new RaftLogStore(store, Genesis).Persist(Entries(1, 1, 3), null);
        using (var write = store.CreateBatch())
        {
            write.Delete([(byte)'r', (byte)'e', 0, 0, 0, 0, 0, 0, 0, 2]);
            store.Write(write, sync: true);
        }

        var error = Assert.Throws<StorageCorruptException>(() => new RaftLogStore(store, Genesis));
        Assert.Contains("index 3", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Hard_state_of_the_wrong_size_is_reported_as_damage()
    {
        using var store = new InMemoryKeyValueStore();
        using (var write = store.CreateBatch())
        {
            write.Put([(byte)'r', (byte)'h'], [1, 2, 3]);
            store.Write(write, sync: true);
        }

        Assert.Throws<StorageCorruptException>(() => new RaftLogStore(store, Genesis));
    }

    [Fact]
    public void A_term_never_goes_back()
    {
        using var store = new InMemoryKeyValueStore();
        var log = new RaftLogStore(store, Genesis);
        log.Persist([], new HardState(5, 1, 0));
        Assert.Throws<InvalidOperationException>(() => log.Persist([], new HardState(4, 1, 0)));
    }
}
