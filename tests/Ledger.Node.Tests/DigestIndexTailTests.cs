using Ledger.Node.Sequencing;
using Ledger.Node.State;
using Ledger.Storage;
using Ledger.TestKit;

namespace Ledger.Node.Tests;

/// <summary>
/// The digest index's newest entries wait in memory and reach the store in runs: every lookup,
/// dedupe and reopen must see the same index as if each entry were written at once.
/// </summary>
public sealed class DigestIndexTailTests
{
    private static byte[] Digest(int seed)
    {
        var digest = new byte[32];
        BitConverter.TryWriteBytes(digest, seed * 2_654_435_761u);
        BitConverter.TryWriteBytes(digest.AsSpan(4), seed);
        return digest;
    }

    private static Batch BatchOf(string issuer, int nonce, IEnumerable<int> digests)
    {
        var nonceBytes = new byte[16];
        BitConverter.TryWriteBytes(nonceBytes, nonce);
        return new Batch(1_000, [new AnchorEntry(issuer, 1_000, nonceBytes, digests.Select(Digest).ToArray())]);
    }

    private static ulong Indexed(IKeyValueStore store) => StateKeys.DecodeIndex(store.Get(StateKeys.IndexedKey)!);

    [Fact]
    public void Lookups_find_every_leaf_whether_its_entry_is_in_the_tail_or_in_the_store()
    {
        using var store = new InMemoryKeyValueStore();
        var state = new LedgerState(store, digestIndexGeneration: 8, digestIndexGenerationsPerRun: 1);
        ulong batch = 0;

        // "alpha" anchors 0..49 (leaves 0..49), all written to the store; then "beta" anchors
        // 40..54 (leaves 50..64): its first generation of 8 reaches the store, its last 7 stay in the tail.
        for (var from = 0; from < 50; from += 5)
        {
            state.Apply(++batch, BatchOf("alpha", (int)batch, Enumerable.Range(from, 5)));
        }

        state.WriteDigestIndex();
        Assert.Equal(50UL, Indexed(store));
        for (var from = 40; from < 55; from += 5)
        {
            state.Apply(++batch, BatchOf("beta", (int)batch, Enumerable.Range(from, 5)));
        }

        state.WaitForIndexRun();
        Assert.Equal(58UL, Indexed(store));
        for (var d = 0; d < 55; d++)
        {
            var alphaLeaf = d < 50 ? (ulong)d : ulong.MaxValue;
            var betaLeaf = d >= 40 ? 50UL + (ulong)(d - 40) : ulong.MaxValue;
            Assert.Equal(d < 50, state.TryFindLeaf(Digest(d), "alpha", out var alpha));
            Assert.Equal(d >= 40, state.TryFindLeaf(Digest(d), "beta", out var beta));
            Assert.True(state.TryFindLeaf(Digest(d), null, out var any));
            if (d < 50)
            {
                Assert.Equal(alphaLeaf, alpha);
            }

            if (d >= 40)
            {
                Assert.Equal(betaLeaf, beta);
            }

            Assert.Equal(Math.Min(alphaLeaf, betaLeaf), any);

            // The store holds exactly the entries of leaves below the indexed position.
            Assert.Equal(alphaLeaf < 58, store.Get(StateKeys.DigestKey(Digest(d), "alpha")) is not null);
            Assert.Equal(betaLeaf < 58, store.Get(StateKeys.DigestKey(Digest(d), "beta")) is not null);
        }

        Assert.False(state.TryFindLeaf(Digest(55), null, out _));
        Assert.False(state.TryFindLeaf(Digest(0), "beta", out _));
        Assert.False(state.TryFindLeaf(Digest(54), "alpha", out _));
    }

    [Fact]
    public void Several_issuers_of_one_digest_in_the_tail_each_find_their_leaf()
    {
        using var store = new InMemoryKeyValueStore();
        var state = new LedgerState(store);
        var nonce = new byte[16];
        var entries = new[] { "gamma", "alpha", "beta" }.Select((issuer, i) => new AnchorEntry(issuer, 1_000, [(byte)i, .. nonce[1..]], [Digest(7), Digest(8 + i)])).ToArray();
        state.Apply(1, new Batch(1_000, entries));

        // Leaves: gamma 7 → 0, gamma 8 → 1, alpha 7 → 2, alpha 9 → 3, beta 7 → 4, beta 10 → 5; all still in the tail.
        Assert.Null(store.Get(StateKeys.DigestKey(Digest(7), "gamma")));
        foreach (var (issuer, leaf) in new[] { ("gamma", 0UL), ("alpha", 2UL), ("beta", 4UL) })
        {
            Assert.True(state.TryFindLeaf(Digest(7), issuer, out var found));
            Assert.Equal(leaf, found);
        }

        Assert.True(state.TryFindLeaf(Digest(7), null, out var first));
        Assert.Equal(0UL, first);
        Assert.False(state.TryFindLeaf(Digest(7), "delta", out _));
        Assert.False(state.TryFindLeaf(Digest(8), "alpha", out _));
        var again = state.Apply(2, BatchOf("beta", 99, [7, 10, 8]))!;
        Assert.Equal([4UL, 5UL, 6UL], again[0].LeafIndices);
        Assert.Equal([true, true, false], again[0].Existed);
    }

    [Fact]
    public void Dedupe_meets_entries_in_the_tail_in_the_run_being_written_and_in_the_store()
    {
        using var store = new InMemoryKeyValueStore();
        var state = new LedgerState(store, digestIndexGeneration: 16, digestIndexGenerationsPerRun: 1);
        state.PopulateDigestFilter();
        ulong batch = 0;
        for (var from = 0; from < 100; from += 10)
        {
            state.Apply(++batch, BatchOf("alpha", (int)batch, Enumerable.Range(from, 10)));
        }

        // Every digest again, in one batch: wherever its entry is, the existing leaf comes back.
        var again = state.Apply(++batch, BatchOf("alpha", 1_000, Enumerable.Range(0, 100)))!;
        Assert.All(again[0].Existed, Assert.True);
        Assert.Equal(Enumerable.Range(0, 100).Select(i => (ulong)i), again[0].LeafIndices);
        Assert.Equal(100UL, state.TreeSize);
    }

    [Fact]
    public void A_reopen_puts_the_unwritten_entries_back_from_the_leaves()
    {
        using var temp = new TempDirectory("ledger-tail-tests");
        var folder = temp.Path;
        ulong indexedBefore;
        using (var store = RocksDbKeyValueStore.Open(folder, families: StateKeys.StoreFamilies))
        {
            // A run size that leaves some entries written and the last ones only in memory,
            // then a stop without writing them (as after kill -9). Waiting for each run before the
            // next batch makes the runs fall the same way every time: a generation closes at 64
            // entries and is a run of its own, so 192 are written and 8 are not.
            var state = new LedgerState(store, digestIndexGeneration: 64, digestIndexGenerationsPerRun: 1);
            for (var batch = 1; batch <= 20; batch++)
            {
                state.Apply((ulong)batch, BatchOf("alpha", batch, Enumerable.Range((batch - 1) * 10, 10)));
                state.WaitForIndexRun();
            }

            indexedBefore = Indexed(store);
            Assert.Equal(192UL, indexedBefore);
        }

        using var reopened = RocksDbKeyValueStore.Open(folder, families: StateKeys.StoreFamilies);
        var again = new LedgerState(reopened, digestFilterBitsLog2: 16, digestIndexGeneration: 64, digestIndexGenerationsPerRun: 1);
        Assert.Equal(200L, again.PopulateDigestFilter());
        for (var d = 0; d < 200; d++)
        {
            Assert.True(again.TryFindLeaf(Digest(d), "alpha", out var leaf));
            Assert.Equal((ulong)d, leaf);
        }

        var outcome = again.Apply(21, BatchOf("alpha", 21, [199, 0, 200]))!;
        Assert.Equal([199UL, 0UL, 200UL], outcome[0].LeafIndices);
        Assert.Equal([true, true, false], outcome[0].Existed);

        // A stop that writes the tail leaves nothing for the next start to load.
        again.WriteDigestIndex();
        Assert.Equal(201UL, Indexed(reopened));
        Assert.NotNull(reopened.Get(StateKeys.DigestKey(Digest(200), "alpha")));
    }

    /// <summary>A digest whose first eight bytes are shared by every digest made with the same <paramref name="group"/>.</summary>
    private static byte[] Twin(int group, int member)
    {
        var digest = new byte[32];
        Array.Fill(digest, (byte)(0xA0 + group), 0, 8);
        BitConverter.TryWriteBytes(digest.AsSpan(28), 1_000 - member);
        return digest;
    }

    [Fact]
    public void A_run_merges_several_generations_in_key_order_and_records_the_size_the_last_covers()
    {
        using var temp = new TempDirectory("ledger-tail-tests");
        var folder = temp.Path;
        using var store = RocksDbKeyValueStore.Open(folder, families: StateKeys.StoreFamilies);
        var state = new LedgerState(store, digestIndexGeneration: 8, digestIndexGenerationsPerRun: 3);
        Assert.Equal(0UL, Indexed(store));

        // Generations of eight entries, batches of ten. Digests that share their first eight
        // bytes, and one digest anchored by two issuers, land in different generations.
        static Batch Mixed(int batch, string issuer) => new(1_000, [new AnchorEntry(issuer, 1_000, BitConverter.GetBytes((long)batch).Concat(new byte[8]).ToArray(),
            [.. Enumerable.Range(0, 6).Select(i => Digest((batch * 10) + i)), Twin(1, batch), Twin(2, batch), Twin(1, 100 + batch), Digest(999)])]);

        state.Apply(1, Mixed(1, "alpha"));
        state.Apply(2, Mixed(2, "beta"));
        state.WaitForIndexRun();
        Assert.Equal(0UL, Indexed(store));
        Assert.Null(store.Get(StateKeys.DigestKey(Digest(10), "alpha")));

        // The third closed generation (leaves 16..23) makes a run: all three reach the store as one.
        state.Apply(3, Mixed(3, "alpha"));
        state.WaitForIndexRun();
        Assert.Equal(24UL, Indexed(store));
        Assert.Equal(24, store.Scan([StateKeys.DigestIndex], [StateKeys.DigestIndex + 1]).Count());
        Assert.Equal(BitConverter.GetBytes(9UL).Reverse(), store.Get(StateKeys.DigestKey(Digest(999), "alpha")));
        Assert.Equal(BitConverter.GetBytes(19UL).Reverse(), store.Get(StateKeys.DigestKey(Digest(999), "beta")));
        Assert.Equal(BitConverter.GetBytes(6UL).Reverse(), store.Get(StateKeys.DigestKey(Twin(1, 1), "alpha")));
        Assert.Equal(BitConverter.GetBytes(16UL).Reverse(), store.Get(StateKeys.DigestKey(Twin(1, 2), "beta")));
        Assert.Equal(BitConverter.GetBytes(18UL).Reverse(), store.Get(StateKeys.DigestKey(Twin(1, 102), "beta")));
        Assert.Null(store.Get(StateKeys.DigestKey(Twin(1, 3), "alpha")));

        state.Apply(4, Mixed(4, "gamma"));
        state.WriteDigestIndex();
        Assert.Equal(39UL, Indexed(store));
        Assert.Equal(39, store.Scan([StateKeys.DigestIndex], [StateKeys.DigestIndex + 1]).Count());
        for (var batch = 1; batch <= 4; batch++)
        {
            var issuer = batch switch { 1 or 3 => "alpha", 2 => "beta", _ => "gamma" };
            // Batch 3 adds nine leaves: alpha anchored digest 999 in batch 1.
            var first = batch == 4 ? 29UL : (ulong)((batch - 1) * 10);
            Assert.True(state.TryFindLeaf(Twin(2, batch), issuer, out var twin));
            Assert.Equal(first + 7, twin);
            Assert.True(state.TryFindLeaf(Digest(batch * 10), issuer, out var leaf));
            Assert.Equal(first, leaf);
        }

        Assert.True(state.TryFindLeaf(Digest(999), null, out var lowest));
        Assert.Equal(9UL, lowest);
    }

    [Fact]
    public void A_large_run_of_random_crowded_and_twin_digests_reaches_the_store_complete_and_in_key_order()
    {
        using var temp = new TempDirectory("ledger-tail-tests");
        var folder = temp.Path;
        using var store = RocksDbKeyValueStore.Open(folder, families: StateKeys.StoreFamilies);
        // Runs of 4 x 1,024 entries: buckets of the counting sort by the first 8 bits.
        var state = new LedgerState(store, digestIndexGeneration: 1_024, digestIndexGenerationsPerRun: 4);
        var random = new Random(20261203);
        var expected = new Dictionary<string, ulong>();
        string[] issuers = ["alpha", "beta", "gamma"];
        var applied = 0UL;
        for (var batch = 1; batch <= 16; batch++)
        {
            var digests = new List<byte[]>();
            for (var i = 0; i < 500; i++)
            {
                var digest = new byte[32];
                random.NextBytes(digest);
                switch (i % 5)
                {
                    case 1:
                        // Crowded: one bucket, and its first eight bytes shared with many others.
                        Array.Fill(digest, (byte)0x5A, 0, 8);
                        break;
                    case 2:
                        // Crowded in one bucket, but distinct first eight bytes.
                        digest[0] = 0xC3;
                        break;
                }

                digests.Add(digest);
            }

            // The same digests, anchored again by another issuer in a later batch.
            var issuer = issuers[batch % issuers.Length];
            var entries = new List<AnchorEntry> { new(issuer, 1_000, BitConverter.GetBytes((long)batch).Concat(new byte[8]).ToArray(), [.. digests]) };
            var outcomes = state.Apply(++applied, new Batch(1_000, entries))!;
            for (var i = 0; i < digests.Count; i++)
            {
                expected.Add(Convert.ToHexString(StateKeys.DigestKey(digests[i], issuer)), outcomes[0].LeafIndices[i]);
            }

            var twinIssuer = issuers[(batch + 1) % issuers.Length];
            var twins = digests.Where((_, i) => i % 7 == 0).ToArray();
            var twinOutcomes = state.Apply(++applied, new Batch(1_000, [new AnchorEntry(twinIssuer, 1_000, BitConverter.GetBytes((long)batch + 100).Concat(new byte[8]).ToArray(), twins)]))!;
            for (var i = 0; i < twins.Length; i++)
            {
                expected.Add(Convert.ToHexString(StateKeys.DigestKey(twins[i], twinIssuer)), twinOutcomes[0].LeafIndices[i]);
            }
        }

        state.WriteDigestIndex();
        var stored = store.Scan([StateKeys.DigestIndex], [StateKeys.DigestIndex + 1]).ToList();
        Assert.Equal(expected.Count, stored.Count);
        for (var i = 0; i < stored.Count; i++)
        {
            Assert.True(i == 0 || stored[i - 1].Key.AsSpan().SequenceCompareTo(stored[i].Key) < 0);
            Assert.Equal(expected[Convert.ToHexString(stored[i].Key)], StateKeys.DecodeIndex(stored[i].Value));
        }

        Assert.Equal(state.TreeSize, Indexed(store));
        Assert.True(state.TreeSize >= 2 * 4 * 1_024UL);
    }

    [Fact]
    public void A_reopen_with_closed_generations_not_yet_written_finds_every_leaf_and_writes_them_later()
    {
        using var temp = new TempDirectory("ledger-tail-tests");
        var folder = temp.Path;
        using (var store = RocksDbKeyValueStore.Open(folder, families: StateKeys.StoreFamilies))
        {
            // Three closed generations of ten and four open entries: a run takes four, so none is written.
            var state = new LedgerState(store, digestIndexGeneration: 10, digestIndexGenerationsPerRun: 4);
            for (var batch = 1; batch <= 17; batch++)
            {
                state.Apply((ulong)batch, BatchOf("alpha", batch, [batch * 2, (batch * 2) + 1]));
            }

            state.WaitForIndexRun();
            Assert.Equal(0UL, Indexed(store));
        }

        using var reopened = RocksDbKeyValueStore.Open(folder, families: StateKeys.StoreFamilies);
        var again = new LedgerState(reopened, digestFilterBitsLog2: 16, digestIndexGeneration: 10, digestIndexGenerationsPerRun: 4);
        Assert.Equal(34L, again.PopulateDigestFilter());
        for (var d = 2; d < 36; d++)
        {
            Assert.True(again.TryFindLeaf(Digest(d), "alpha", out var leaf));
            Assert.Equal((ulong)(d - 2), leaf);
        }

        // The loaded entries came back as three closed generations: six more entries close a fourth, and the run goes.
        again.Apply(18, BatchOf("alpha", 18, Enumerable.Range(100, 6)));
        again.WaitForIndexRun();
        Assert.Equal(40UL, Indexed(reopened));
        Assert.Equal(40, reopened.Scan([StateKeys.DigestIndex], [StateKeys.DigestIndex + 1]).Count());
    }

    [Fact]
    public void A_store_written_before_the_tail_counts_as_fully_indexed_and_records_it_at_open()
    {
        using var store = new InMemoryKeyValueStore();
        var writer = new LedgerState(store);
        writer.Apply(1, BatchOf("alpha", 1, Enumerable.Range(0, 30)));
        writer.WriteDigestIndex();
        using (var drop = store.CreateBatch())
        {
            drop.Delete(StateKeys.IndexedKey);
            store.Write(drop, sync: true);
        }

        var state = new LedgerState(store);
        Assert.Equal(30UL, Indexed(store));
        Assert.True(state.TryFindLeaf(Digest(29), "alpha", out var leaf));
        Assert.Equal(29UL, leaf);

        // A fresh store records position 0 before its first apply, so that a reopen after applies
        // never takes unwritten entries for stored ones.
        using var fresh = new InMemoryKeyValueStore();
        var first = new LedgerState(fresh);
        Assert.Equal(0UL, Indexed(fresh));
        first.Apply(1, BatchOf("alpha", 1, Enumerable.Range(0, 30)));
        Assert.Null(fresh.Get(StateKeys.DigestKey(Digest(0), "alpha")));
        Assert.True(new LedgerState(fresh).TryFindLeaf(Digest(0), "alpha", out var reopenedLeaf));
        Assert.Equal(0UL, reopenedLeaf);
    }

    [Fact]
    public async Task Readers_never_miss_an_applied_digest_while_runs_move_to_the_store()
    {
        using var store = new InMemoryKeyValueStore();
        var state = new LedgerState(store, digestIndexGeneration: 32, digestIndexGenerationsPerRun: 1);
        const int Batches = 400;
        const int PerBatch = 20;
        var applied = 0;
        var misses = 0L;
        var lookups = 0L;
        using var done = new CancellationTokenSource();
        using var started = new CountdownEvent(2);
        var readers = Enumerable.Range(0, 2).Select(seed => Task.Run(() =>
        {
            started.Signal();
            var random = new Random(seed);
            while (!done.IsCancellationRequested)
            {
                var known = Volatile.Read(ref applied);
                if (known == 0)
                {
                    continue;
                }

                var d = random.Next(known);
                if (!state.TryFindLeaf(Digest(d), "alpha", out var leaf) || leaf != (ulong)d
                    || !state.TryFindLeaf(Digest(d), null, out var any) || any != (ulong)d)
                {
                    Interlocked.Increment(ref misses);
                }

                Interlocked.Increment(ref lookups);
            }
        })).ToArray();

        Assert.True(started.Wait(TimeSpan.FromSeconds(30)));
        for (var batch = 0; batch < Batches; batch++)
        {
            state.Apply((ulong)batch + 1, BatchOf("alpha", batch, Enumerable.Range(batch * PerBatch, PerBatch)));
            Volatile.Write(ref applied, (batch + 1) * PerBatch);
        }

        state.WaitForIndexRun();
        done.Cancel();
        await Task.WhenAll(readers);
        Assert.Equal(0L, Interlocked.Read(ref misses));
        Assert.True(Interlocked.Read(ref lookups) > 0);

        // Runs moved entries to the store during apply: after an apply the tail holds fewer closed
        // generations than a run plus DigestIndexGenerationsAheadMax (each under 32 + PerBatch entries), and the open one.
        Assert.True(Indexed(store) >= (ulong)(Batches * PerBatch) - (((1 + LedgerState.DigestIndexGenerationsAheadMax) * (32 + PerBatch)) + 32));
    }

    [Fact]
    public void A_run_the_store_refuses_stops_apply_and_the_stop_waits_for_it_without_throwing()
    {
        using var inner = new InMemoryKeyValueStore();
        var store = new RefusingStore(inner);
        var state = new LedgerState(store, digestIndexGeneration: 8, digestIndexGenerationsPerRun: 1);
        store.RefuseRuns = true;
        state.Apply(1, BatchOf("alpha", 1, Enumerable.Range(0, 10)));
        state.WaitForIndexRun();

        // The refused entries stay readable; the next apply and a stop's write meet the failure.
        Assert.True(state.TryFindLeaf(Digest(3), "alpha", out var leaf));
        Assert.Equal(3UL, leaf);
        Assert.Throws<IOException>(() => state.Apply(2, BatchOf("alpha", 2, [10])));
        Assert.Equal(10UL, state.TreeSize);
        Assert.Throws<IOException>(state.WriteDigestIndex);
        Assert.Equal(0UL, Indexed(inner));
    }

    [Fact]
    public async Task Apply_waits_for_the_run_being_written_once_the_tail_holds_the_most_it_may()
    {
        using var inner = new InMemoryKeyValueStore();
        var store = new RefusingStore(inner);
        var state = new LedgerState(store, digestIndexGeneration: 10, digestIndexGenerationsPerRun: 1);
        store.HoldRuns.Reset();

        // The first run (10 entries) is held; the tail may then grow to 4 runs before apply waits.
        state.Apply(1, BatchOf("alpha", 1, Enumerable.Range(0, 10)));
        for (var batch = 2; batch <= 4; batch++)
        {
            state.Apply((ulong)batch, BatchOf("alpha", batch, Enumerable.Range((batch - 1) * 10, 10)));
        }

        var blocked = Task.Run(() => state.Apply(5, BatchOf("alpha", 5, Enumerable.Range(40, 10))));
        var first = await Task.WhenAny(blocked, Task.Delay(300));
        Assert.NotSame(blocked, first);
        store.HoldRuns.Set();
        Assert.NotNull(await blocked.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(50UL, state.TreeSize);
        state.WriteDigestIndex();
        Assert.Equal(50UL, Indexed(inner));
    }

    /// <summary>A store whose digest index runs (the only writes of digest index keys) can be held or refused.</summary>
    private sealed class RefusingStore(InMemoryKeyValueStore inner) : IKeyValueStore
    {
        public bool RefuseRuns { get; set; }

        public ManualResetEventSlim HoldRuns { get; } = new(initialState: true);

        public byte[]? Get(ReadOnlySpan<byte> key) => inner.Get(key);

        public IKeyValueBatch CreateBatch() => new RunWatch(inner.CreateBatch());

        public void Write(IKeyValueBatch batch, bool sync)
        {
            var watch = (RunWatch)batch;
            if (watch.IsRun)
            {
                HoldRuns.Wait(TimeSpan.FromSeconds(60));
                if (RefuseRuns)
                {
                    throw new IOException("no space left on device");
                }
            }

            inner.Write(watch.Inner, sync);
        }

        public IEnumerable<KeyValuePair<byte[], byte[]>> Scan(ReadOnlySpan<byte> fromKeyInclusive, ReadOnlySpan<byte> toKeyExclusive)
            => inner.Scan(fromKeyInclusive, toKeyExclusive);

        public void Dispose() => HoldRuns.Dispose();

        private sealed class RunWatch(IKeyValueBatch inner) : IKeyValueBatch
        {
            public IKeyValueBatch Inner => inner;

            public bool IsRun { get; private set; }

            public int Count => inner.Count;

            public void Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
            {
                IsRun |= key[0] == StateKeys.DigestIndex;
                inner.Put(key, value);
            }

            public void Delete(ReadOnlySpan<byte> key) => inner.Delete(key);

            public void Dispose() => inner.Dispose();
        }
    }
}
