using CsCheck;
using Ledger.Sdk.Merkle;

namespace Ledger.Storage.Tests;

/// <summary>The tiled tree against the literal RFC 6962 §2.1 definitions, over both stores.</summary>
public sealed class TileTreeReferenceTests
{
    private const int PairsPerTree = 8;

    public static TheoryData<StoreKind> Stores => [StoreKind.InMemory, StoreKind.RocksDb];

    [Theory]
    [MemberData(nameof(Stores))]
    public void Roots_and_inclusion_proofs_equal_the_reference(StoreKind kind)
    {
        var cases = Gen.Select(Gen.Int[1, Leaves.CountMax], Gen.Int[1, 700], Gen.Int, Gen.Int.Array[PairsPerTree]);
        cases.Sample((size, batchMax, seed, pairSeeds) =>
        {
            using var store = TestStore.Create(kind);
            var tree = new TileTree(store.Store);
            Leaves.AppendInBatches(tree, store.Store, size, new Random(seed), batchMax);
            Assert.Equal((ulong)size, tree.Size);
            Assert.Equal(ReferenceMerkle.Root(Leaves.All.AsSpan(0, size)), tree.Root());
            foreach (var pairSeed in pairSeeds)
            {
                var random = new Random(pairSeed);
                var proofSize = random.Next(1, size + 1);
                var index = random.Next(proofSize);
                var leaves = Leaves.All.AsSpan(0, proofSize);
                var root = tree.RootAt((ulong)proofSize);
                Assert.Equal(ReferenceMerkle.Root(leaves), root);
                Assert.Equal(Leaves.All[index], tree.LeafHash((ulong)index));
                var proof = tree.InclusionProof((ulong)index, (ulong)proofSize);
                Assert.Equal(ReferenceMerkle.Path(index, leaves), proof);
                Assert.True(MerkleProof.VerifyInclusion((ulong)index, (ulong)proofSize, Leaves.All[index], proof, root));
            }
        }, iter: kind == StoreKind.InMemory ? 40 : 15, threads: 1);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public void Consistency_proofs_between_random_sizes_equal_the_reference(StoreKind kind)
    {
        var cases = Gen.Select(Gen.Int[1, Leaves.CountMax], Gen.Int[1, 3000], Gen.Int.Array[PairsPerTree]);
        cases.Sample((size, batchMax, pairSeeds) =>
        {
            using var store = TestStore.Create(kind);
            var tree = new TileTree(store.Store);
            Leaves.AppendInBatches(tree, store.Store, size, new Random(size), batchMax);
            foreach (var pairSeed in pairSeeds)
            {
                var random = new Random(pairSeed);
                var size2 = random.Next(0, size + 1);
                var size1 = random.Next(0, size2 + 1);
                var proof = tree.ConsistencyProof((ulong)size1, (ulong)size2);
                Assert.Equal(ReferenceMerkle.Consistency(size1, Leaves.All.AsSpan(0, size2)), proof);
                Assert.True(MerkleProof.VerifyConsistency(
                    (ulong)size1, (ulong)size2, tree.RootAt((ulong)size1), tree.RootAt((ulong)size2), proof));
            }
        }, iter: kind == StoreKind.InMemory ? 25 : 10, threads: 1);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public void Incremental_appends_store_exactly_what_one_big_append_stores(StoreKind kind)
    {
        Gen.Select(Gen.Int[1, 3 * 256 * 4], Gen.Int[1, 300], Gen.Int).Sample((size, batchMax, seed) =>
        {
            using var incremental = TestStore.Create(kind);
            using var whole = TestStore.Create(kind);
            var incrementalTree = new TileTree(incremental.Store);
            Leaves.AppendInBatches(incrementalTree, incremental.Store, size, new Random(seed), batchMax);
            var wholeTree = new TileTree(whole.Store);
            Leaves.AppendAndWrite(wholeTree, whole.Store, 0, size);
            Assert.Equal(wholeTree.Root(), incrementalTree.Root());
            Assert.Equal(TreeKeys(whole.Store), TreeKeys(incremental.Store));
            var reopened = new TileTree(incremental.Store);
            Assert.Equal(wholeTree.Root(), reopened.Root());
            Assert.Equal(wholeTree.Size, reopened.Size);
        }, iter: kind == StoreKind.InMemory ? 30 : 10, threads: 1);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 1)]
    [InlineData(3, 2)]
    public void Results_do_not_depend_on_cache_bounds(int summaryTiles, int fullTiles)
    {
        using var store = TestStore.Create(StoreKind.InMemory);
        Leaves.AppendInBatches(new TileTree(store.Store), store.Store, 5000, new Random(7), 900);
        var cold = new TileTree(store.Store, summaryTiles, fullTiles);
        var warm = new TileTree(store.Store);
        var random = new Random(11);
        for (var round = 0; round < 200; round++)
        {
            var size = (ulong)random.Next(1, 5001);
            var index = (ulong)random.Next((int)size);
            Assert.Equal(warm.InclusionProof(index, size), cold.InclusionProof(index, size));
            Assert.Equal(warm.RootAt(size), cold.RootAt(size));
            var size1 = (ulong)random.Next((int)size + 1);
            Assert.Equal(warm.ConsistencyProof(size1, size), cold.ConsistencyProof(size1, size));
        }
    }

    [Fact]
    public void Proofs_at_the_current_size_stay_right_after_every_append()
    {
        using var store = TestStore.Create(StoreKind.InMemory);
        var tree = new TileTree(store.Store);
        var random = new Random(19);
        var size = 0;
        while (size < 4_000)
        {
            var count = random.Next(1, 200);
            Leaves.AppendAndWrite(tree, store.Store, size, count);
            size += count;
            var leaves = Leaves.All.AsSpan(0, size);
            var index = random.Next(size);
            Assert.Equal(ReferenceMerkle.Path(index, leaves), tree.InclusionProof((ulong)index, (ulong)size));
            Assert.Equal(ReferenceMerkle.Root(leaves), tree.Root());
            var size1 = random.Next(size + 1);
            Assert.Equal(ReferenceMerkle.Consistency(size1, leaves), tree.ConsistencyProof((ulong)size1, (ulong)size));
        }
    }

    [Fact]
    public void Empty_tree_has_the_empty_root_and_rejects_every_proof()
    {
        using var store = TestStore.Create(StoreKind.InMemory);
        var tree = new TileTree(store.Store);
        Assert.Equal(0UL, tree.Size);
        Assert.Equal(MerkleHash.EmptyRoot(), tree.Root());
        Assert.Equal(MerkleHash.EmptyRoot(), tree.RootAt(0));
        Assert.Empty(tree.ConsistencyProof(0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => tree.InclusionProof(0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => tree.LeafHash(0));
    }

    internal static List<(string Key, string Value)> TreeKeys(IKeyValueStore store) =>
        [.. store.Scan([(byte)'t'], [(byte)'u']).Select(pair => (Convert.ToHexString(pair.Key), Convert.ToHexString(pair.Value)))];
}
