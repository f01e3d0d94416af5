using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using Ledger.Sdk.Merkle;
using Ledger.Storage;

namespace Ledger.Benchmarks;

/// <summary>
/// Appending leaves to the tiled tree (leaf hash, tile and inner hashing, staging into an in-memory
/// batch) against computing the bare SHA-256 leaf hashes of the same leaves. The Ratio column is
/// append time over leaf-hash time; the append rate is its inverse.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 10)]
public class TreeAppendBenchmarks
{
    /// <summary>Leaves per benchmark operation (per invocation).</summary>
    private const int LeavesPerRun = 65_536;

    /// <summary>Typical SPEC §3 leaf: 43 + 8-character issuer name.</summary>
    private const int LeafBytes = 51;

    private byte[][] _leaves = [];
    private byte[][] _prefixedLeaves = [];
    private byte[] _leafHashes = [];

    /// <summary>Leaves per <see cref="TileTree.Append"/> call, as the node applies one batch of digests.</summary>
    [Params(1_000)]
    public int LeavesPerAppend { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        _leaves = [.. Enumerable.Range(0, LeavesPerRun).Select(_ =>
        {
            var leaf = new byte[LeafBytes];
            random.NextBytes(leaf);
            return leaf;
        })];
        _prefixedLeaves = [.. _leaves.Select(leaf => (byte[])[0x00, .. leaf])];
        _leafHashes = new byte[LeavesPerAppend * MerkleHash.Size];
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = LeavesPerRun)]
    public byte LeafHashes()
    {
        var hashes = _leafHashes.AsSpan();
        var slot = 0;
        for (var leaf = 0; leaf < LeavesPerRun; leaf++)
        {
            MerkleHash.Leaf(_leaves[leaf], hashes.Slice(slot * MerkleHash.Size, MerkleHash.Size));
            slot = slot + 1 == LeavesPerAppend ? 0 : slot + 1;
        }

        return hashes[0];
    }

    /// <summary>The same leaf hashes with the one-shot API over leaves stored with their 0x00 prefix.</summary>
    [Benchmark(OperationsPerInvoke = LeavesPerRun)]
    public ulong OneShotSha256LeafHashes()
    {
        Span<byte> hash = stackalloc byte[MerkleHash.Size];
        for (var leaf = 0; leaf < LeavesPerRun; leaf++)
        {
            SHA256.HashData(_prefixedLeaves[leaf], hash);
        }

        return hash[0];
    }

    [Benchmark(OperationsPerInvoke = LeavesPerRun)]
    public ulong AppendToTree()
    {
        using var store = new InMemoryKeyValueStore();
        var tree = new TileTree(store);
        var hashes = _leafHashes.AsSpan();
        for (var first = 0; first < LeavesPerRun; first += LeavesPerAppend)
        {
            var count = Math.Min(LeavesPerAppend, LeavesPerRun - first);
            for (var leaf = 0; leaf < count; leaf++)
            {
                MerkleHash.Leaf(_leaves[first + leaf], hashes.Slice(leaf * MerkleHash.Size, MerkleHash.Size));
            }

            using var batch = store.CreateBatch();
            tree.Append(batch, hashes[..(count * MerkleHash.Size)]);
        }

        return tree.Size;
    }
}
