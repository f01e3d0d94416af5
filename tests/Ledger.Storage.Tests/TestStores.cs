using Ledger.Sdk.Merkle;

namespace Ledger.Storage.Tests;

public enum StoreKind
{
    InMemory,
    RocksDb,

    /// <summary>RocksDB with tile keys ('t') and keys starting with 0x01 in column families of their own.</summary>
    RocksDbFamilies,
}

/// <summary>A store of either kind; RocksDB lives in a fresh temporary folder deleted on dispose.</summary>
internal sealed class TestStore : IDisposable
{
    private readonly string? _folder;

    private TestStore(StoreKind kind, string? folder, IKeyValueStore store)
    {
        Kind = kind;
        _folder = folder;
        Store = store;
    }

    public StoreKind Kind { get; }

    public IKeyValueStore Store { get; private set; }

    public static TestStore Create(StoreKind kind)
    {
        if (kind == StoreKind.InMemory)
        {
            return new TestStore(kind, null, new InMemoryKeyValueStore());
        }

        var folder = Path.Combine(Path.GetTempPath(), "ledger-storage-tests-" + Guid.NewGuid().ToString("N"));
        return new TestStore(kind, folder, Open(kind, folder));
    }

    public static readonly IReadOnlyList<KeyFamily> Families = [new("tiles", TileLayout.KeyPrefix), new("ones", 0x01)];

    private static RocksDbKeyValueStore Open(StoreKind kind, string folder) =>
        RocksDbKeyValueStore.Open(folder, families: kind == StoreKind.RocksDbFamilies ? Families : null);

    /// <summary>Closes and reopens a RocksDB store from disk; an in-memory store stays as it is.</summary>
    public void Reopen()
    {
        if (_folder is not null)
        {
            Store.Dispose();
            Store = Open(Kind, _folder);
        }
    }

    public void Dispose()
    {
        Store.Dispose();
        if (_folder is not null && Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }
}

internal static class Leaves
{
    public const int CountMax = 10_000;

    private static readonly Lazy<byte[][]> Hashes = new(() =>
        [.. Enumerable.Range(0, CountMax).Select(i => MerkleHash.Leaf(System.Text.Encoding.UTF8.GetBytes($"leaf-{i}")))]);

    /// <summary>Leaf hashes of leaves "leaf-0", "leaf-1", ...</summary>
    public static byte[][] All => Hashes.Value;

    /// <summary>Hash of leaf "leaf-<paramref name="index"/>"; precomputed below <see cref="CountMax"/>.</summary>
    public static byte[] Hash(int index) =>
        index < CountMax ? All[index] : MerkleHash.Leaf(System.Text.Encoding.UTF8.GetBytes($"leaf-{index}"));

    public static byte[] Concatenated(int from, int count)
    {
        var hashes = new byte[count * MerkleHash.Size];
        for (var leaf = 0; leaf < count; leaf++)
        {
            Hash(from + leaf).CopyTo(hashes, leaf * MerkleHash.Size);
        }

        return hashes;
    }

    /// <summary>Appends leaves [0, size) in batches whose sizes come from <paramref name="random"/> (1..batchMax), writing each.</summary>
    public static void AppendInBatches(TileTree tree, IKeyValueStore store, int size, Random random, int batchMax)
    {
        var appended = (int)tree.Size;
        while (appended < size)
        {
            var count = Math.Min(size - appended, random.Next(1, batchMax + 1));
            AppendAndWrite(tree, store, appended, count);
            appended += count;
        }
    }

    public static void AppendAndWrite(TileTree tree, IKeyValueStore store, int from, int count)
    {
        using var batch = store.CreateBatch();
        tree.Append(batch, Concatenated(from, count));
        store.Write(batch, sync: false);
    }
}
