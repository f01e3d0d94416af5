using Ledger.Sdk.Merkle;

namespace Ledger.Storage.Tests;

/// <summary>Readers run concurrently with each other and with appends; every answer is that of some committed size.</summary>
public sealed class TileTreeConcurrencyTests
{
    private const int AppendBatches = 200;
    private const int LeavesPerBatch = 37;
    private const int Readers = 4;

    [Theory]
    [InlineData(StoreKind.InMemory)]
    [InlineData(StoreKind.RocksDb)]
    [InlineData(StoreKind.RocksDbFamilies)]
    public async Task Proofs_read_while_appending_verify_against_the_root_of_their_size(StoreKind kind)
    {
        using var store = TestStore.Create(kind);
        // Small caches force evictions and store reads while other threads use the same entries.
        var tree = new TileTree(store.Store, summaryCacheTilesMax: 8, tileCacheTilesMax: 4);
        using var writerDone = new CancellationTokenSource();
        var writer = Task.Run(() =>
        {
            for (var batch = 0; batch < AppendBatches; batch++)
            {
                using var write = store.Store.CreateBatch();
                tree.Append(write, Leaves.Concatenated(batch * LeavesPerBatch, LeavesPerBatch));
                store.Store.Write(write, sync: false);
            }

            writerDone.Cancel();
        });
        var readers = Enumerable.Range(0, Readers).Select(seed => Task.Run(() => ReadUntil(tree, seed, writerDone.Token))).ToList();
        await writer;
        var checks = await Task.WhenAll(readers);
        Assert.All(checks, count => Assert.True(count > 0));
        Assert.Equal(ReferenceMerkle.Root(Leaves.All.AsSpan(0, AppendBatches * LeavesPerBatch)), tree.Root());
    }

    private static int ReadUntil(TileTree tree, int seed, CancellationToken stop)
    {
        var random = new Random(seed);
        var checks = 0;
        while (!stop.IsCancellationRequested || checks == 0)
        {
            var size = tree.Size;
            if (size == 0)
            {
                continue;
            }

            var root = tree.RootAt(size);
            var index = (ulong)random.NextInt64((long)size);
            var proof = tree.InclusionProof(index, size);
            Assert.True(MerkleProof.VerifyInclusion(index, size, Leaves.Hash((int)index), proof, root), $"size {size} index {index}");
            var older = (ulong)random.NextInt64(1, (long)size + 1);
            Assert.True(MerkleProof.VerifyConsistency(older, size, tree.RootAt(older), root, tree.ConsistencyProof(older, size)));
            checks++;
        }

        return checks;
    }
}
