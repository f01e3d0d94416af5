using System.Numerics;
using Ledger.Sdk;
using Ledger.Sdk.Merkle;

namespace Ledger.Storage;

public sealed partial class TileTree
{
    /// <summary>
    /// The RFC 9162 §2.1.3.1 inclusion proof of leaf <paramref name="index"/> in the tree of
    /// <paramref name="size"/> leaves, leaf's sibling first.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is above <see cref="Size"/> or <paramref name="index"/> is not below <paramref name="size"/>.</exception>
    public byte[][] InclusionProof(ulong index, ulong size)
    {
        _gate.EnterReadLock();
        try
        {
            CheckSize(size, nameof(size));
            CheckIndex(index, size);
            var proof = new List<byte[]>(MerkleProof.InclusionProofLength(index, size));
            AddPath(proof, index, size, 0);
            return [.. proof];
        }
        finally
        {
            _gate.ExitReadLock();
        }
    }

    /// <summary>The RFC 9162 §2.1.4.1 consistency proof from the tree of <paramref name="size1"/> leaves to that of <paramref name="size2"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size2"/> is above <see cref="Size"/> or <paramref name="size1"/> is above <paramref name="size2"/>.</exception>
    public byte[][] ConsistencyProof(ulong size1, ulong size2)
    {
        _gate.EnterReadLock();
        try
        {
            CheckSize(size2, nameof(size2));
            if (size1 > size2)
            {
                throw new ArgumentOutOfRangeException(nameof(size1), size1, $"first size {size1} is above second size {size2}");
            }

            if (size1 == 0 || size1 == size2)
            {
                return [];
            }

            var proof = new List<byte[]>(MerkleProof.ConsistencyProofLength(size1, size2));
            var shift = BitOperations.TrailingZeroCount(size1);
            if (!BitOperations.IsPow2(size1))
            {
                proof.Add(SubtreeHash(shift, (size1 - 1) >> shift));
            }

            AddPath(proof, size1 - 1, size2, shift);
            return [.. proof];
        }
        finally
        {
            _gate.ExitReadLock();
        }
    }

    /// <summary>
    /// The audit path of leaf <paramref name="index"/> in a tree of <paramref name="size"/> leaves, from
    /// height <paramref name="fromHeight"/> up: right siblings below the point where the path meets the
    /// right edge (clipped to the size), then the full left siblings above it.
    /// </summary>
    private void AddPath(List<byte[]> proof, ulong index, ulong size, int fromHeight)
    {
        var inner = 64 - BitOperations.LeadingZeroCount(index ^ (size - 1));
        for (var height = fromHeight; height < inner; height++)
        {
            var sibling = (index >> height) ^ 1;
            var begin = sibling << height;
            var length = Math.Min(1UL << height, size - begin);
            proof.Add(RangeRoot(begin, begin + length));
        }

        for (var height = inner; height < 64; height++)
        {
            if (((index >> height) & 1) == 1)
            {
                proof.Add(SubtreeHash(height, (index >> height) ^ 1));
            }
        }
    }

    /// <summary>
    /// The RFC 6962 hash of leaves [<paramref name="begin"/>, <paramref name="end"/>), where begin is
    /// aligned to a power of two at least the range's length (the tree root, or a node clipped by the
    /// right edge): the full subtrees of the range, folded from the right.
    /// </summary>
    private byte[] RangeRoot(ulong begin, ulong end)
    {
        Invariant.Check(begin <= end);
        var length = end - begin;
        if (length == 0)
        {
            return MerkleHash.EmptyRoot();
        }

        if (BitOperations.IsPow2(length))
        {
            return SubtreeHash(BitOperations.TrailingZeroCount(length), begin >> BitOperations.TrailingZeroCount(length));
        }

        var memoised = end == _size;
        if (memoised && _edgeRangeRoots.TryGetValue(begin, out var known))
        {
            return (byte[])known.Clone();
        }

        var accumulated = FoldRange(end, length);
        if (memoised)
        {
            Invariant.Check(_edgeRangeRoots.Count < EdgeRangeRootsMax);
            _edgeRangeRoots.TryAdd(begin, (byte[])accumulated.Clone());
        }

        return accumulated;
    }

    /// <summary>Folds the full subtrees of the <paramref name="length"/> leaves ending at <paramref name="end"/>, right to left.</summary>
    private byte[] FoldRange(ulong end, ulong length)
    {
        var lowest = BitOperations.TrailingZeroCount(length);
        var accumulated = SubtreeHash(lowest, (end - (1UL << lowest)) >> lowest);
        var consumed = 1UL << lowest;
        for (var height = lowest + 1; height < 64; height++)
        {
            if (((length >> height) & 1) == 1)
            {
                var subtreeBegin = end - consumed - (1UL << height);
                MerkleHash.Node(SubtreeHash(height, subtreeBegin >> height), accumulated, accumulated);
                consumed += 1UL << height;
            }
        }

        return accumulated;
    }

    /// <summary>
    /// The hash of the full subtree of height <paramref name="height"/> number <paramref name="index"/>
    /// (leaves index·2^height onward), which must lie within the current size: from the summary cache,
    /// or from one tile and at most 7 node hashes (127 with the summary cache disabled).
    /// </summary>
    private byte[] SubtreeHash(int height, ulong index)
    {
        Invariant.Check(height < 64 && index < (_size >> height));
        var level = height / TileLayout.TileHeight;
        var heightInTile = height % TileLayout.TileHeight;
        var first = index << heightInTile;
        var tileIndex = first >> TileLayout.TileHeight;
        var offset = (int)(first % TileLayout.TileWidthMax);
        var widthNeeded = offset + (1 << heightInTile);
        var position = offset >> heightInTile;
        var lowestHeight = SummaryLowestHeight(level);
        if (heightInTile >= lowestHeight && _summaries.EntriesMax > 0)
        {
            if (!_summaries.TryGet((level, tileIndex), out var summary) || !summary.Holds(heightInTile, position))
            {
                var (tile, width) = TileEntries(level, tileIndex, widthNeeded);
                Span<byte> scratch = stackalloc byte[TileLayout.TileBytesMax / 2];
                summary = TileSummary.Build(tile, width, lowestHeight, scratch);
                _summaries.Set((level, tileIndex), summary);
            }

            return summary.Node(heightInTile, position).ToArray();
        }

        var (entries, _) = TileEntries(level, tileIndex, widthNeeded);
        return HashEntries(entries.AsSpan(offset * MerkleHash.Size, (1 << heightInTile) * MerkleHash.Size));
    }

    /// <summary>Hashes a power-of-two run of at most 128 consecutive entries up to their common root.</summary>
    private static byte[] HashEntries(ReadOnlySpan<byte> entries)
    {
        var count = entries.Length / MerkleHash.Size;
        Invariant.Check(BitOperations.IsPow2(count) && count <= TileLayout.TileWidthMax / 2);
        if (count == 1)
        {
            return entries.ToArray();
        }

        scoped ReadOnlySpan<byte> below = entries;
        Span<byte> level = stackalloc byte[TileLayout.TileBytesMax / 2];
        for (count >>= 1; count >= 1; count >>= 1)
        {
            for (var position = 0; position < count; position++)
            {
                MerkleHash.Node(
                    below.Slice(2 * position * MerkleHash.Size, MerkleHash.Size),
                    below.Slice((2 * position + 1) * MerkleHash.Size, MerkleHash.Size),
                    level.Slice(position * MerkleHash.Size, MerkleHash.Size));
            }

            below = level;
        }

        return level[..MerkleHash.Size].ToArray();
    }

    /// <summary>
    /// The hashes of tile (<paramref name="level"/>, <paramref name="tileIndex"/>), at least
    /// <paramref name="widthNeeded"/> of them: from the right edge in memory, the tiles staged by the
    /// last append, the full-tile cache, or the store.
    /// </summary>
    /// <exception cref="StorageCorruptException">The store lacks the tile or holds a malformed one.</exception>
    private (byte[] Tile, int Width) TileEntries(int level, ulong tileIndex, int widthNeeded)
    {
        if (tileIndex == EdgeTileIndex(level) && _edgeWidths[level] >= widthNeeded)
        {
            return (_edgeTiles[level], _edgeWidths[level]);
        }

        var key = (level, tileIndex);
        if (_lastStagedTiles.TryGetValue(key, out var staged) || _fullTiles.TryGet(key, out staged))
        {
            return (staged, TileLayout.TileWidthMax);
        }

        var tile = _store.Get(TileLayout.TileKey(level, tileIndex))
            ?? throw new StorageCorruptException($"tile level {level} index {tileIndex} is missing (tree size {_size})");
        var width = tile.Length / MerkleHash.Size;
        if (tile.Length % MerkleHash.Size != 0 || width < widthNeeded || width > TileLayout.TileWidthMax)
        {
            throw new StorageCorruptException(
                $"tile level {level} index {tileIndex} holds {tile.Length} bytes, expected at least {widthNeeded * MerkleHash.Size} (tree size {_size})");
        }

        if (width == TileLayout.TileWidthMax)
        {
            _fullTiles.Set(key, tile);
        }

        return (tile, width);
    }
}
