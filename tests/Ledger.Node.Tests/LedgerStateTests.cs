using Ledger.Node.Sequencing;
using Ledger.Node.State;
using Ledger.Sdk;
using Ledger.Storage;

namespace Ledger.Node.Tests;

public sealed class LedgerStateTests
{
    private static byte[] Digest(int seed)
    {
        var digest = new byte[32];
        BitConverter.TryWriteBytes(digest, seed);
        digest[31] = 0xAA;
        return digest;
    }

    private static AnchorEntry Entry(string issuer, int nonce, params int[] digests)
    {
        var nonceBytes = new byte[16];
        BitConverter.TryWriteBytes(nonceBytes, nonce);
        return new AnchorEntry(issuer, 1000, nonceBytes, digests.Select(Digest).ToArray());
    }

    [Fact]
    public void A_digest_the_issuer_anchored_before_maps_to_its_existing_leaf_within_and_across_batches()
    {
        using var store = new InMemoryKeyValueStore();
        var state = new LedgerState(store);
        var first = state.Apply(1, new Batch(10, [Entry("alpha", 1, 1, 2, 1), Entry("beta", 2, 1)]))!;
        Assert.Equal([0UL, 1UL, 0UL], first[0].LeafIndices);
        Assert.Equal([false, false, true], first[0].Existed);
        Assert.Equal([2UL], first[1].LeafIndices);
        Assert.Equal(3UL, state.TreeSize);

        var second = state.Apply(2, new Batch(11, [Entry("alpha", 3, 2, 3)]))!;
        Assert.Equal([1UL, 3UL], second[0].LeafIndices);
        Assert.Equal([true, false], second[0].Existed);
        Assert.Equal(4UL, state.TreeSize);
        Assert.True(state.TryFindLeaf(Digest(1), "beta", out var betaIndex));
        Assert.Equal(2UL, betaIndex);
        Assert.True(state.TryFindLeaf(Digest(1), null, out var anyIndex));
        Assert.Equal(0UL, anyIndex);
        Assert.False(state.TryFindLeaf(Digest(3), "beta", out _));
        Assert.False(state.TryFindLeaf(Digest(99), null, out _));
    }

    [Fact]
    public void Dedupe_stays_exact_once_the_digest_filter_answers_for_stored_keys()
    {
        using var store = new InMemoryKeyValueStore();
        var before = new LedgerState(store, digestFilterBitsLog2: 10);
        before.Apply(1, new Batch(10, [Entry("alpha", 1, Enumerable.Range(0, 200).ToArray())]));

        var state = new LedgerState(store, digestFilterBitsLog2: 10);
        state.PopulateDigestFilter();
        var outcome = state.Apply(2, new Batch(11, [Entry("alpha", 2, 5, 500, 199, 500), Entry("beta", 3, 5)]))!;
        Assert.Equal([5UL, 200UL, 199UL, 200UL], outcome[0].LeafIndices);
        Assert.Equal([true, false, true, true], outcome[0].Existed);
        Assert.Equal([201UL], outcome[1].LeafIndices);
        var again = state.Apply(3, new Batch(12, [Entry("beta", 4, 5), Entry("alpha", 5, 500)]))!;
        Assert.Equal([201UL], again[0].LeafIndices);
        Assert.Equal([200UL], again[1].LeafIndices);
        Assert.Equal(202UL, state.TreeSize);
    }

    [Fact]
    public void A_repeat_within_a_batch_is_found_when_the_filter_first_answers_maybe_after_new_digests()
    {
        // A filter large enough that the new digests below are certainly absent (no false positive):
        // 600 takes a leaf without any look-up, 5 is the batch's first "maybe", and the second 600
        // must still find the first.
        using var store = new InMemoryKeyValueStore();
        var state = new LedgerState(store, digestFilterBitsLog2: 24);
        state.Apply(1, new Batch(10, [Entry("alpha", 1, 5)]));
        state.PopulateDigestFilter();
        var outcome = state.Apply(2, new Batch(11, [Entry("alpha", 2, 600, 5, 600, 601, 601)]))!;
        Assert.Equal([1UL, 0UL, 1UL, 2UL, 2UL], outcome[0].LeafIndices);
        Assert.Equal([false, true, true, false, true], outcome[0].Existed);
        Assert.Equal(3UL, state.TreeSize);
    }

    [Fact]
    public void After_a_reopen_the_filter_holds_every_stored_digest_of_the_whole_key_space()
    {
        var folder = Path.Combine(Path.GetTempPath(), "ledger-state-tests-" + Guid.NewGuid().ToString("N"));
        try
        {
            // Digests whose first bytes cover 0x00..0xFF, so every range the filling reads has some.
            var digests = Enumerable.Range(0, 2_048).Select(i => System.Security.Cryptography.SHA256.HashData(BitConverter.GetBytes(i))).ToArray();
            using (var store = RocksDbKeyValueStore.Open(folder, families: StateKeys.StoreFamilies))
            {
                var first = new LedgerState(store);
                first.Apply(1, new Batch(10, [new AnchorEntry("alpha", 1000, new byte[16], digests)]));
                first.WriteDigestIndex();
            }

            using var reopened = RocksDbKeyValueStore.Open(folder, families: StateKeys.StoreFamilies);
            var state = new LedgerState(reopened, digestFilterBitsLog2: 24);
            Assert.Equal(digests.Length, state.PopulateDigestFilter());
            var again = state.Apply(2, new Batch(11, [new AnchorEntry("alpha", 1001, new byte[16], digests)]))!;
            Assert.All(again[0].Existed, Assert.True);
            Assert.Equal(Enumerable.Range(0, digests.Length).Select(i => (ulong)i), again[0].LeafIndices);
            Assert.Equal((ulong)digests.Length, state.TreeSize);

            // A stop while filling ends it at once, as itself (not wrapped).
            var stopped = new LedgerState(reopened, digestFilterBitsLog2: 24);
            Assert.Throws<OperationCanceledException>(() => stopped.PopulateDigestFilter(new CancellationToken(canceled: true)));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Pruning_deletes_exactly_the_nonces_issued_before_the_cut()
    {
        using var store = new InMemoryKeyValueStore();
        var state = new LedgerState(store);
        var old = Entry("alpha", 1, 1) with { IssuedAtMs = 1_000 };
        var edge = Entry("beta", 2, 2) with { IssuedAtMs = 3_000 };
        var recent = Entry("alpha", 3, 3) with { IssuedAtMs = 5_000 };
        state.Apply(1, new Batch(10, [old, edge, recent]));

        Assert.Equal(1, state.PruneNonces(3_000));
        Assert.Equal(0, state.PruneNonces(3_000));
        var kept = StateKeys.ScanPrefix(store, [StateKeys.Nonce]).Select(pair => StateKeys.ParseNonceKey(pair.Key).IssuedAtMs).ToArray();
        Assert.Equal([3_000UL, 5_000UL], kept);
        Assert.Equal(3UL, state.TreeSize);
    }

    [Fact]
    public void Leaves_carry_the_batch_timestamp_and_issuer()
    {
        using var store = new InMemoryKeyValueStore();
        var state = new LedgerState(store);
        state.Apply(1, new Batch(1234, [Entry("alpha", 1, 7)]));
        Assert.True(Leaf.TryDecode(state.LeafBytes(0), out var leaf, out _));
        Assert.Equal(1234UL, leaf!.TimestampMs);
        Assert.Equal("alpha", leaf.Issuer);
        Assert.Equal(Digest(7), leaf.Digest);
    }

    [Fact]
    public void Apply_is_deterministic_and_reapplying_a_batch_changes_nothing()
    {
        var batches = new[]
        {
            new Batch(10, [Entry("alpha", 1, 1, 2, 3)]),
            new Batch(10, [Entry("beta", 2, 3, 4), Entry("alpha", 3, 3, 5)]),
            new Batch(12, [Entry("alpha", 4, 6)]),
        };
        using var storeA = new InMemoryKeyValueStore();
        using var storeB = new InMemoryKeyValueStore();
        var stateA = new LedgerState(storeA);
        var stateB = new LedgerState(storeB);
        for (var i = 0; i < batches.Length; i++)
        {
            stateA.Apply((ulong)i + 1, batches[i]);
            stateB.Apply((ulong)i + 1, BatchCodec.Decode(BatchCodec.Encode(batches[i])));
        }

        Assert.Equal(stateA.RootAt(stateA.TreeSize), stateB.RootAt(stateB.TreeSize));
        var sizeBefore = stateA.TreeSize;
        Assert.Null(stateA.Apply(2, batches[1]));
        Assert.Equal(sizeBefore, stateA.TreeSize);

        var reopened = new LedgerState(storeA);
        Assert.Equal(stateA.Applied, reopened.Applied);
        Assert.Equal(stateA.RootAt(sizeBefore), reopened.RootAt(sizeBefore));
    }

    [Fact]
    public void Log_positions_may_skip_but_never_go_back()
    {
        using var store = new InMemoryKeyValueStore();
        var state = new LedgerState(store);
        Assert.NotNull(state.Apply(2, new Batch(10, [Entry("alpha", 1, 1)])));
        Assert.Equal(2UL, state.Applied.BatchIndex);
        Assert.NotNull(state.Apply(5, new Batch(11, [Entry("alpha", 2, 2)])));
        Assert.Equal((5UL, 2UL), (state.Applied.BatchIndex, state.TreeSize));
        Assert.Null(state.Apply(4, new Batch(12, [Entry("alpha", 3, 3)])));
        Assert.Equal(2UL, state.TreeSize);
    }

    [Fact]
    public void A_batch_stamped_before_the_applied_one_takes_the_applied_time()
    {
        using var store = new InMemoryKeyValueStore();
        var state = new LedgerState(store);
        state.Apply(1, new Batch(1_000, [Entry("alpha", 1, 1)]));
        var outcome = state.Apply(2, new Batch(400, [Entry("alpha", 2, 2)]))!;
        Assert.Equal(1_000UL, state.Applied.TimestampMs);
        Assert.True(Leaf.TryDecode(state.LeafBytes(outcome[0].LeafIndices[0]), out var leaf, out _));
        Assert.Equal(1_000UL, leaf!.TimestampMs);
    }
}
