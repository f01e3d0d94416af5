using System.Buffers.Binary;
using System.Numerics;
using Ledger.Sdk;
using Ledger.Sdk.Merkle;

namespace Ledger.Storage;

/// <summary>
/// The ledger's RFC 6962 Merkle tree, stored as C2SP tlog-tiles in an <see cref="IKeyValueStore"/>
/// (layout in <c>docs/storage.md</c>). <see cref="Append"/> stages tiles and the new size into the
/// caller's batch, so the node commits them atomically with its own keys. Roots and proofs for any
/// size up to <see cref="Size"/> read O(log n) tiles. Thread-safe: reads run concurrently with each
/// other (caches have their own short locks); an append excludes them.
/// </summary>
/// <remarks>
/// Contract: once <see cref="Append"/> returns, <see cref="Size"/> and every read reflect the new
/// leaves, served from memory until the caller writes the batch; write it before the next append.
/// If that write fails the process must stop (fail-stop): the in-memory tree is then ahead of the
/// store, and a restart reloads the tree from what the store durably holds.
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "A tree lives as long as its store; the lock holds no resources until contended and the process releases them.")]
public sealed partial class TileTree
{
    /// <summary>First byte of every key the tree writes; other components use other prefixes.</summary>
    public const byte KeyPrefix = TileLayout.KeyPrefix;

    /// <summary>Leaf hashes one <see cref="Append"/> call accepts.</summary>
    public const int AppendLeafHashesMax = 1 << 20;

    /// <summary>
    /// Default bound of the summary cache: 65,536 tiles. A level-0 tile's summary is ~1 KiB (heights
    /// 4..8), an upper tile's ~8 KiB (all inner nodes; 1/256 as many tiles): ~64 MiB for 16M leaves.
    /// </summary>
    public const int SummaryCacheTilesDefault = 65_536;

    /// <summary>Lowest in-tile height a level-0 summary keeps; level-0 tiles are numerous, so they keep less.</summary>
    private const int LeafTileSummaryLowestHeight = 4;

    /// <summary>Lowest in-tile height an upper-level summary keeps: every inner node.</summary>
    private const int UpperTileSummaryLowestHeight = 1;

    /// <summary>Memoised clipped right-edge nodes at the current size: one per height, plus the root.</summary>
    private const int EdgeRangeRootsMax = 65;

    /// <summary>Default bound of the cache of full tiles read from the store (8 KiB each).</summary>
    public const int TileCacheTilesDefault = 1_024;

    private readonly IKeyValueStore _store;
    private readonly ReaderWriterLockSlim _gate = new(LockRecursionPolicy.NoRecursion);
    private readonly byte[][] _edgeTiles = new byte[TileLayout.LevelsMax][];
    private readonly int[] _edgeWidths = new int[TileLayout.LevelsMax];
    private readonly BoundedCache<(int Level, ulong Index), TileSummary> _summaries;
    private readonly BoundedCache<(int Level, ulong Index), byte[]> _fullTiles;
    private readonly byte[] _appendScratch = new byte[TileLayout.TileBytesMax / 2];
    private readonly System.Collections.Concurrent.ConcurrentDictionary<ulong, byte[]> _edgeRangeRoots = new();
    private Dictionary<(int Level, ulong Index), byte[]> _lastStagedTiles = [];
    private ulong _size;
    private byte[]? _root;

    /// <summary>Opens the tree held in <paramref name="store"/> (empty when the store holds none) with default cache bounds.</summary>
    /// <exception cref="StorageCorruptException">The size record or a right-edge tile is missing or malformed.</exception>
    public TileTree(IKeyValueStore store)
        : this(store, SummaryCacheTilesDefault, TileCacheTilesDefault)
    {
    }

    /// <summary>Opens the tree with explicit cache bounds (tiles; zero disables a cache).</summary>
    public TileTree(IKeyValueStore store, int summaryCacheTilesMax, int tileCacheTilesMax)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _summaries = new(summaryCacheTilesMax);
        _fullTiles = new(tileCacheTilesMax);
        for (var level = 0; level < TileLayout.LevelsMax; level++)
        {
            _edgeTiles[level] = new byte[TileLayout.TileBytesMax];
        }

        Load();
    }

    /// <summary>Leaves in the tree.</summary>
    public ulong Size
    {
        get
        {
            _gate.EnterReadLock();
            try
            {
                return _size;
            }
            finally
            {
                _gate.ExitReadLock();
            }
        }
    }

    /// <summary>The root at <see cref="Size"/> (the empty root for an empty tree).</summary>
    public byte[] Root()
    {
        _gate.EnterReadLock();
        try
        {
            var root = Volatile.Read(ref _root);
            if (root is null)
            {
                root = RangeRoot(0, _size);
                Volatile.Write(ref _root, root);
            }

            return (byte[])root.Clone();
        }
        finally
        {
            _gate.ExitReadLock();
        }
    }

    /// <summary>The root the tree had when it held <paramref name="size"/> leaves.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is above <see cref="Size"/>.</exception>
    public byte[] RootAt(ulong size)
    {
        _gate.EnterReadLock();
        try
        {
            CheckSize(size, nameof(size));
            var root = Volatile.Read(ref _root);
            return size == _size && root is not null ? (byte[])root.Clone() : RangeRoot(0, size);
        }
        finally
        {
            _gate.ExitReadLock();
        }
    }

    /// <summary>The hash of leaf <paramref name="index"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is not below <see cref="Size"/>.</exception>
    public byte[] LeafHash(ulong index)
    {
        _gate.EnterReadLock();
        try
        {
            CheckIndex(index, _size);
            return SubtreeHash(0, index);
        }
        finally
        {
            _gate.ExitReadLock();
        }
    }

    /// <summary>
    /// Appends leaves given as concatenated 32-byte leaf hashes, staging the tiles they change and the
    /// new size into <paramref name="batch"/> (a batch of the same store). See the class remarks for
    /// what a failed write of that batch means.
    /// </summary>
    /// <exception cref="ArgumentException">The hashes are not a whole number of 32-byte hashes, or more than <see cref="AppendLeafHashesMax"/>.</exception>
    /// <remarks>If the batch throws while staging, the tree is left as it was before the call and the batch must be discarded.</remarks>
    public void Append(IKeyValueBatch batch, ReadOnlySpan<byte> leafHashes)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (leafHashes.Length % MerkleHash.Size != 0)
        {
            throw new ArgumentException($"{leafHashes.Length} bytes is not a whole number of {MerkleHash.Size}-byte leaf hashes", nameof(leafHashes));
        }

        var count = leafHashes.Length / MerkleHash.Size;
        if (count > AppendLeafHashesMax)
        {
            throw new ArgumentException($"{count} leaf hashes in one append, the limit is {AppendLeafHashesMax}", nameof(leafHashes));
        }

        _gate.EnterWriteLock();
        try
        {
            if (count == 0)
            {
                return;
            }

            if (ulong.MaxValue - _size < (ulong)count)
            {
                throw new ArgumentException($"appending {count} leaves to {_size} would overflow the tree size", nameof(leafHashes));
            }

            var edgeBefore = SaveEdge();
            try
            {
                AppendLocked(batch, leafHashes, count);
            }
            catch
            {
                RestoreEdge(edgeBefore);
                throw;
            }
        }
        finally
        {
            _gate.ExitWriteLock();
        }
    }

    /// <summary>The right edge as it was before an append: size and the used prefix of each edge tile.</summary>
    private (ulong Size, byte[][] Tiles) SaveEdge()
    {
        var tiles = new byte[TileLayout.LevelsMax][];
        for (var level = 0; level < TileLayout.LevelsMax; level++)
        {
            tiles[level] = _edgeTiles[level].AsSpan(0, _edgeWidths[level] * MerkleHash.Size).ToArray();
        }

        return (_size, tiles);
    }

    /// <summary>
    /// Undoes a partial append (the caller's batch threw, e.g. because it was full): the right edge
    /// goes back, and summaries of tiles the append completed are dropped with the whole cache,
    /// since those tile positions will be filled with other leaves. The caller discards the batch.
    /// </summary>
    private void RestoreEdge((ulong Size, byte[][] Tiles) saved)
    {
        _size = saved.Size;
        for (var level = 0; level < TileLayout.LevelsMax; level++)
        {
            saved.Tiles[level].CopyTo(_edgeTiles[level], 0);
            _edgeWidths[level] = saved.Tiles[level].Length / MerkleHash.Size;
        }

        _summaries.Clear();
    }

    private void AppendLocked(IKeyValueBatch batch, ReadOnlySpan<byte> leafHashes, int count)
    {
        var staged = new Dictionary<(int Level, ulong Index), byte[]>();
        var touchedLevels = 0;
        for (var leaf = 0; leaf < count; leaf++)
        {
            touchedLevels |= AddEntry(batch, staged, leafHashes.Slice(leaf * MerkleHash.Size, MerkleHash.Size));
        }

        for (var level = 0; level < TileLayout.LevelsMax; level++)
        {
            if ((touchedLevels & (1 << level)) != 0 && _edgeWidths[level] > 0)
            {
                var tile = _edgeTiles[level].AsSpan(0, _edgeWidths[level] * MerkleHash.Size);
                batch.Put(TileLayout.TileKey(level, EdgeTileIndex(level)), tile);
            }
        }

        Span<byte> sizeBytes = stackalloc byte[sizeof(ulong)];
        BinaryPrimitives.WriteUInt64BigEndian(sizeBytes, _size);
        batch.Put(TileLayout.SizeKey, sizeBytes);
        _lastStagedTiles = staged;
        _root = null;
        _edgeRangeRoots.Clear();
    }

    /// <summary>
    /// Adds one leaf hash to the right edge; every tile it fills is staged, summarised, and its root
    /// carried one level up (a loop over at most <see cref="TileLayout.LevelsMax"/> levels).
    /// Returns the bit set of levels whose edge tile changed.
    /// </summary>
    private int AddEntry(IKeyValueBatch batch, Dictionary<(int Level, ulong Index), byte[]> staged, ReadOnlySpan<byte> leafHash)
    {
        Span<byte> carried = stackalloc byte[MerkleHash.Size];
        leafHash.CopyTo(carried);
        var touched = 0;
        _size++;
        for (var level = 0; level < TileLayout.LevelsMax; level++)
        {
            var width = _edgeWidths[level];
            carried.CopyTo(_edgeTiles[level].AsSpan(width * MerkleHash.Size));
            touched |= 1 << level;
            if (width + 1 < TileLayout.TileWidthMax)
            {
                _edgeWidths[level] = width + 1;
                return touched;
            }

            // The size already counts the subtree just completed, so the edge has moved past this tile.
            var tileIndex = EdgeTileIndex(level) - 1;
            var tile = (byte[])_edgeTiles[level].Clone();
            batch.Put(TileLayout.TileKey(level, tileIndex), tile);
            staged[(level, tileIndex)] = tile;
            var summary = TileSummary.Build(tile, TileLayout.TileWidthMax, SummaryLowestHeight(level), _appendScratch);
            _summaries.Set((level, tileIndex), summary);
            summary.Node(TileLayout.TileHeight, 0).CopyTo(carried);
            _edgeWidths[level] = 0;
        }

        throw new InvalidOperationException("invariant violated: a tile filled at the top level");
    }

    private static int SummaryLowestHeight(int level) =>
        level == 0 ? LeafTileSummaryLowestHeight : UpperTileSummaryLowestHeight;

    /// <summary>Index of the right-edge tile at <paramref name="level"/> for the current size.</summary>
    private ulong EdgeTileIndex(int level) => TileLayout.EntriesAt(_size, level) >> TileLayout.TileHeight;

    private void Load()
    {
        var sizeBytes = _store.Get(TileLayout.SizeKey);
        if (sizeBytes is null)
        {
            return;
        }

        if (sizeBytes.Length != sizeof(ulong))
        {
            throw new StorageCorruptException($"tree size record holds {sizeBytes.Length} bytes, expected {sizeof(ulong)}");
        }

        _size = BinaryPrimitives.ReadUInt64BigEndian(sizeBytes);
        for (var level = 0; level < TileLayout.LevelsMax; level++)
        {
            var width = (int)(TileLayout.EntriesAt(_size, level) % TileLayout.TileWidthMax);
            _edgeWidths[level] = width;
            if (width == 0)
            {
                continue;
            }

            var index = EdgeTileIndex(level);
            var tile = _store.Get(TileLayout.TileKey(level, index))
                ?? throw new StorageCorruptException($"right-edge tile level {level} index {index} is missing (tree size {_size})");
            if (tile.Length != width * MerkleHash.Size)
            {
                throw new StorageCorruptException(
                    $"right-edge tile level {level} index {index} holds {tile.Length} bytes, expected {width * MerkleHash.Size} for tree size {_size}");
            }

            tile.CopyTo(_edgeTiles[level], 0);
        }
    }

    private void CheckSize(ulong size, string parameter)
    {
        if (size > _size)
        {
            throw new ArgumentOutOfRangeException(parameter, size, $"size {size} is above the tree size {_size}");
        }
    }

    private static void CheckIndex(ulong index, ulong size)
    {
        if (index >= size)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"leaf index {index} is not below tree size {size}");
        }
    }
}
