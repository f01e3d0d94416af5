using Ledger.Sdk.Merkle;

namespace Ledger.Storage.Tests;

/// <summary>Durability and corruption: reopening, unwritten batches, missing and truncated tiles.</summary>
public sealed class TileTreeStorageTests
{
    private const int Size = 3 * 256 * 256 / 4 + 77;

    public static TheoryData<StoreKind> Stores => [StoreKind.InMemory, StoreKind.RocksDb, StoreKind.RocksDbFamilies];

    [Theory]
    [MemberData(nameof(Stores))]
    public void Reopened_store_gives_the_same_size_roots_and_proofs(StoreKind kind)
    {
        using var store = TestStore.Create(kind);
        var tree = new TileTree(store.Store);
        Leaves.AppendInBatches(tree, store.Store, 9_000, new Random(3), 1_000);
        var probes = new[] { (0UL, 1UL), (5UL, 300UL), (255UL, 256UL), (8_999UL, 9_000UL), (4_000UL, 8_191UL) };
        var expected = probes.Select(p => (tree.InclusionProof(p.Item1, p.Item2), tree.ConsistencyProof(p.Item1 + 1, p.Item2))).ToList();
        var root = tree.Root();

        store.Reopen();
        var reopened = new TileTree(store.Store);
        Assert.Equal(9_000UL, reopened.Size);
        Assert.Equal(root, reopened.Root());
        Assert.Equal(expected, probes.Select(p => (reopened.InclusionProof(p.Item1, p.Item2), reopened.ConsistencyProof(p.Item1 + 1, p.Item2))));
        Leaves.AppendAndWrite(reopened, store.Store, 9_000, 1_000);
        Assert.Equal(ReferenceMerkle.Root(Leaves.All.AsSpan(0, 10_000)), reopened.Root());
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public void Batch_never_written_leaves_the_store_unchanged_on_reopen(StoreKind kind)
    {
        using var store = TestStore.Create(kind);
        var tree = new TileTree(store.Store);
        Leaves.AppendAndWrite(tree, store.Store, 0, 1_000);
        var keysBefore = TileTreeReferenceTests.TreeKeys(store.Store);
        using (var batch = store.Store.CreateBatch())
        {
            tree.Append(batch, Leaves.Concatenated(1_000, 600));
            Assert.True(batch.Count > 0);
            Assert.Equal(1_600UL, tree.Size);
        }

        store.Reopen();
        Assert.Equal(keysBefore, TileTreeReferenceTests.TreeKeys(store.Store));
        var reopened = new TileTree(store.Store);
        Assert.Equal(1_000UL, reopened.Size);
        Assert.Equal(ReferenceMerkle.Root(Leaves.All.AsSpan(0, 1_000)), reopened.Root());
    }

    [Fact]
    public void Tree_staged_into_a_batch_shares_it_with_the_callers_own_keys()
    {
        using var store = TestStore.Create(StoreKind.RocksDb);
        var tree = new TileTree(store.Store);
        using (var batch = store.Store.CreateBatch())
        {
            batch.Put("a-applied"u8, [0, 0, 0, 9]);
            tree.Append(batch, Leaves.Concatenated(0, 300));
            store.Store.Write(batch, sync: true);
        }

        store.Reopen();
        Assert.Equal([0, 0, 0, 9], store.Store.Get("a-applied"u8));
        Assert.Equal(300UL, new TileTree(store.Store).Size);
        Assert.All(store.Store.Scan([(byte)'t'], [(byte)'u']), pair => Assert.Equal((byte)'t', pair.Key[0]));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public void Deleted_inner_tile_is_reported_as_corruption(StoreKind kind)
    {
        using var store = TestStore.Create(kind);
        BuildAndReopen(store);
        Remove(store.Store, TileLayout.TileKey(0, 3));
        var tree = new TileTree(store.Store, 0, 0);
        var error = Assert.Throws<StorageCorruptException>(() => tree.InclusionProof(3 * 256 + 5, Size));
        Assert.Contains("tile level 0 index 3 is missing", error.Message, StringComparison.Ordinal);
        Assert.Throws<StorageCorruptException>(() => tree.LeafHash(3 * 256));
        Assert.Equal(ReferenceMerkle.Root(Leaves.All.AsSpan(0, 256)), tree.RootAt(256));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public void Truncated_inner_tile_is_reported_as_corruption(StoreKind kind)
    {
        using var store = TestStore.Create(kind);
        BuildAndReopen(store);
        var key = TileLayout.TileKey(0, 10);
        Replace(store.Store, key, store.Store.Get(key)![..^MerkleHash.Size]);
        var tree = new TileTree(store.Store, 0, 0);
        // Leaf 10·256+254 needs its sibling, the entry cut off.
        Assert.Throws<StorageCorruptException>(() => tree.InclusionProof(10 * 256 + 254, Size));
        Assert.Throws<StorageCorruptException>(() => tree.LeafHash(10 * 256 + 255));
        Assert.Equal(Leaves.Hash(10 * 256 + 254), tree.LeafHash(10 * 256 + 254));
        Replace(store.Store, key, store.Store.Get(key)![..^1]);
        Assert.Throws<StorageCorruptException>(() => new TileTree(store.Store, 0, 0).LeafHash(10 * 256));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public void Missing_or_truncated_edge_tile_or_size_record_fails_the_load(StoreKind kind)
    {
        using var store = TestStore.Create(kind);
        BuildAndReopen(store);
        var edge = TileLayout.TileKey(0, Size / 256);
        var edgeTile = store.Store.Get(edge)!;
        Replace(store.Store, edge, edgeTile[..^MerkleHash.Size]);
        Assert.Throws<StorageCorruptException>(() => new TileTree(store.Store));
        Remove(store.Store, edge);
        Assert.Throws<StorageCorruptException>(() => new TileTree(store.Store));
        Replace(store.Store, edge, edgeTile);
        Assert.Equal((ulong)Size, new TileTree(store.Store).Size);
        Replace(store.Store, TileLayout.SizeKey, [1, 2, 3]);
        Assert.Throws<StorageCorruptException>(() => new TileTree(store.Store));
    }

    [Fact]
    public void Upper_level_tile_loss_is_caught_too()
    {
        using var store = TestStore.Create(StoreKind.InMemory);
        BuildAndReopen(store);
        Remove(store.Store, TileLayout.TileKey(1, 0));
        var error = Assert.Throws<StorageCorruptException>(() => new TileTree(store.Store, 0, 0));
        Assert.Contains("right-edge tile level 1 index 0 is missing", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Proof_reads_a_logarithmic_number_of_tiles()
    {
        using var counting = new CountingStore(new InMemoryKeyValueStore());
        var tree = new TileTree(counting);
        for (var from = 0; from < 200_000; from += Leaves.CountMax)
        {
            using var batch = counting.CreateBatch();
            tree.Append(batch, Leaves.Concatenated(0, Leaves.CountMax));
            counting.Write(batch, sync: false);
        }

        var cold = new TileTree(counting, 0, 0);
        var random = new Random(5);
        var readsMax = 0;
        for (var round = 0; round < 50; round++)
        {
            var size = (ulong)random.Next(1, 200_001);
            var index = (ulong)random.NextInt64((long)size);
            counting.Gets = 0;
            cold.InclusionProof(index, size);
            readsMax = Math.Max(readsMax, counting.Gets);
        }

        // 200,000 leaves span 782 level-0 tiles; a proof touches a few per tile level (3 levels here).
        Assert.InRange(readsMax, 1, 3 * 18);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(6)]
    public void Batch_failing_while_staging_leaves_the_tree_as_it_was(int putsBeforeFailure)
    {
        using var store = TestStore.Create(StoreKind.InMemory);
        var tree = new TileTree(store.Store);
        Leaves.AppendAndWrite(tree, store.Store, 0, 700);
        var rootBefore = tree.Root();
        var proofBefore = tree.InclusionProof(100, 700);
        using (var failing = new FailingBatch(store.Store.CreateBatch(), putsBeforeFailure))
        {
            Assert.Throws<IOException>(() => tree.Append(failing, Leaves.Concatenated(1_000, 2_000)));
        }

        Assert.Equal(700UL, tree.Size);
        Assert.Equal(rootBefore, tree.Root());
        Assert.Equal(proofBefore, tree.InclusionProof(100, 700));
        Leaves.AppendAndWrite(tree, store.Store, 700, 2_300);
        Assert.Equal(ReferenceMerkle.Root(Leaves.All.AsSpan(0, 3_000)), tree.Root());
        Assert.Equal(ReferenceMerkle.Path(2_999, Leaves.All.AsSpan(0, 3_000)), tree.InclusionProof(2_999, 3_000));
        Assert.Equal(tree.Root(), new TileTree(store.Store).Root());
    }

    [Fact]
    public void Append_rejects_partial_hashes()
    {
        using var store = TestStore.Create(StoreKind.InMemory);
        var tree = new TileTree(store.Store);
        using var batch = store.Store.CreateBatch();
        var error = Assert.Throws<ArgumentException>(() => tree.Append(batch, new byte[MerkleHash.Size + 1]));
        Assert.Contains("33 bytes", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, batch.Count);
        Assert.Equal(0UL, tree.Size);
        tree.Append(batch, []);
        Assert.Equal(0, batch.Count);
    }

    private static void BuildAndReopen(TestStore store)
    {
        Leaves.AppendInBatches(new TileTree(store.Store), store.Store, Size, new Random(1), 5_000);
        store.Reopen();
    }

    private static void Remove(IKeyValueStore store, byte[] key)
    {
        using var batch = store.CreateBatch();
        batch.Delete(key);
        store.Write(batch, sync: false);
    }

    private static void Replace(IKeyValueStore store, byte[] key, byte[] value)
    {
        using var batch = store.CreateBatch();
        batch.Put(key, value);
        store.Write(batch, sync: false);
    }

    private sealed class FailingBatch(IKeyValueBatch inner, int putsBeforeFailure) : IKeyValueBatch
    {
        public int Count => inner.Count;

        public void Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
        {
            if (inner.Count == putsBeforeFailure)
            {
                throw new IOException("staging failed");
            }

            inner.Put(key, value);
        }

        public void Delete(ReadOnlySpan<byte> key) => inner.Delete(key);

        public void Dispose() => inner.Dispose();
    }

    private sealed class CountingStore(IKeyValueStore inner) : IKeyValueStore
    {
        public int Gets { get; set; }

        public byte[]? Get(ReadOnlySpan<byte> key)
        {
            Gets++;
            return inner.Get(key);
        }

        public IKeyValueBatch CreateBatch() => inner.CreateBatch();

        public void Write(IKeyValueBatch batch, bool sync) => inner.Write(batch, sync);

        public IEnumerable<KeyValuePair<byte[], byte[]>> Scan(ReadOnlySpan<byte> fromKeyInclusive, ReadOnlySpan<byte> toKeyExclusive) =>
            inner.Scan(fromKeyInclusive, toKeyExclusive);

        public void Dispose() => inner.Dispose();
    }
}
