using Ledger.Sdk.Merkle;

namespace Ledger.Storage;

/// <summary>
/// The upper inner hashes of one tile: every full node at in-tile heights
/// <see cref="LowestHeight"/>..8 over the tile's first <see cref="Width"/> hashes (31 hashes for a
/// full tile, about 1 KiB). Nodes below <see cref="LowestHeight"/> are recomputed from the tile
/// itself (at most 7 hashes each), which keeps a summary 8 times smaller than the tile.
/// </summary>
internal sealed class TileSummary
{
    /// <summary>Lowest in-tile height kept.</summary>
    public const int LowestHeight = 4;

    private const int NodesMax = (TileLayout.TileWidthMax >> LowestHeight) * 2 - 1;

    private readonly byte[] _nodes;

    private TileSummary(int width, byte[] nodes)
    {
        Width = width;
        _nodes = nodes;
    }

    /// <summary>Hashes of the tile the summary covers (a prefix of the tile when it has grown since).</summary>
    public int Width { get; }

    /// <summary>Whether the node at in-tile height <paramref name="height"/>, position <paramref name="position"/> is held.</summary>
    public bool Holds(int height, int position) =>
        height is >= LowestHeight and <= TileLayout.TileHeight && position < (Width >> height);

    public ReadOnlySpan<byte> Node(int height, int position)
    {
        Ledger.Sdk.Invariant.Check(Holds(height, position));
        return _nodes.AsSpan((Offset(height) + position) * MerkleHash.Size, MerkleHash.Size);
    }

    /// <summary>
    /// Hashes <paramref name="width"/> tile entries up to the top of the tile, keeping the upper nodes.
    /// <paramref name="scratch"/> holds at least 128 hashes. A full tile's root is <c>Node(8, 0)</c>.
    /// </summary>
    public static TileSummary Build(ReadOnlySpan<byte> entries, int width, Span<byte> scratch)
    {
        Ledger.Sdk.Invariant.Check(width is > 0 and <= TileLayout.TileWidthMax && entries.Length >= width * MerkleHash.Size);
        Ledger.Sdk.Invariant.Check(scratch.Length >= TileLayout.TileWidthMax / 2 * MerkleHash.Size);
        var nodes = new byte[NodesMax * MerkleHash.Size];
        var below = entries;
        var count = width;
        for (var height = 1; height <= TileLayout.TileHeight && count > 1; height++)
        {
            count >>= 1;
            for (var position = 0; position < count; position++)
            {
                var left = below.Slice(2 * position * MerkleHash.Size, MerkleHash.Size);
                var right = below.Slice((2 * position + 1) * MerkleHash.Size, MerkleHash.Size);
                MerkleHash.Node(left, right, scratch.Slice(position * MerkleHash.Size, MerkleHash.Size));
            }

            below = scratch;
            if (height >= LowestHeight)
            {
                scratch[..(count * MerkleHash.Size)].CopyTo(nodes.AsSpan(Offset(height) * MerkleHash.Size));
            }
        }

        return new TileSummary(width, nodes);
    }

    /// <summary>Index of the first node of in-tile height <paramref name="height"/> in the node array.</summary>
    private static int Offset(int height)
    {
        var offset = 0;
        for (var lower = LowestHeight; lower < height; lower++)
        {
            offset += TileLayout.TileWidthMax >> lower;
        }

        return offset;
    }
}
