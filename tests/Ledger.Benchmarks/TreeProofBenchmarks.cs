using System.Buffers.Binary;
using BenchmarkDotNet.Attributes;
using Ledger.Sdk.Merkle;
using Ledger.Storage;

namespace Ledger.Benchmarks;

/// <summary>
/// Inclusion-proof generation at the full tree size for leaves drawn uniformly at random, at 1,000
/// and at 10,000,000 leaves. The tree is built in GlobalSetup over an <see cref="InMemoryKeyValueStore"/>.
/// "Warm" is the tree that appended the leaves (its summary cache holds every full tile's upper
/// inner hashes); "Uncached" is a second tree over the same store with both caches disabled.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 10)]
public class TreeProofBenchmarks
{
    private const int ProofsPerRun = 256;
    private const int LeavesPerAppend = 65_536;

    private TileTree _warm = null!;
    private TileTree _uncached = null!;
    private ulong[] _indices = [];

    [Params(1_000, 10_000_000)]
    public int TreeSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var store = new InMemoryKeyValueStore();
        _warm = new TileTree(store);
        var hashes = new byte[LeavesPerAppend * MerkleHash.Size];
        Span<byte> leaf = stackalloc byte[sizeof(ulong)];
        for (var first = 0; first < TreeSize; first += LeavesPerAppend)
        {
            var count = Math.Min(LeavesPerAppend, TreeSize - first);
            for (var offset = 0; offset < count; offset++)
            {
                BinaryPrimitives.WriteUInt64BigEndian(leaf, (ulong)(first + offset));
                MerkleHash.Leaf(leaf, hashes.AsSpan(offset * MerkleHash.Size, MerkleHash.Size));
            }

            using var batch = store.CreateBatch();
            _warm.Append(batch, hashes.AsSpan(0, count * MerkleHash.Size));
            store.Write(batch, sync: false);
        }

        _uncached = new TileTree(store, summaryCacheTilesMax: 0, tileCacheTilesMax: 0);
        var random = new Random(7);
        _indices = [.. Enumerable.Range(0, ProofsPerRun).Select(_ => (ulong)random.NextInt64(TreeSize))];
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = ProofsPerRun)]
    public int InclusionProofWarm() => Prove(_warm);

    [Benchmark(OperationsPerInvoke = ProofsPerRun)]
    public int InclusionProofUncached() => Prove(_uncached);

    private int Prove(TileTree tree)
    {
        var size = tree.Size;
        var hashes = 0;
        foreach (var index in _indices)
        {
            hashes += tree.InclusionProof(index, size).Length;
        }

        return hashes;
    }
}
