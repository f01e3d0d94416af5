using Ledger.Sdk.Merkle;

namespace Ledger.Storage;

/// <summary>
/// Inner hashes of one tile: every full node at in-tile heights <see cref="LowestHeight"/>..8 over
/// the tile's first <see cref="Width"/> hashes. With lowest height 4 a full tile's summary is 31
/// hashes (~1 KiB, an eighth of the tile) and nodes below are recomputed from the tile (at most 7
/// hashes each); with lowest height 1 it is all 255 inner nodes (~8 KiB).
/// </summary>
internal sealed class TileSummary
{
    private readonly byte[] _nodes;

    private TileSummary(int width, int lowestHeight, byte[] nodes)
    {
        Width = width;
        LowestHeight = lowestHeight;
        _nodes = nodes;
    }

    /// <summary>Hashes of the tile the summary covers (a prefix of the tile when it has grown since).</summary>
    public int Width { get; }

    /// <summary>Lowest in-tile height kept, 1..8.</summary>
    public int LowestHeight { get; }

    /// <summary>Whether the node at in-tile height <paramref name="height"/>, position <paramref name="position"/> is held.</summary>
    public bool Holds(int height, int position) =>
        height >= LowestHeight && height <= TileLayout.TileHeight && position < (Width >> height);

    public ReadOnlySpan<byte> Node(int height, int position)
    {
        Ledger.Sdk.Invariant.Check(Holds(height, position));
        return _nodes.AsSpan((Offset(LowestHeight, height) + position) * MerkleHash.Size, MerkleHash.Size);
    }

    /// <summary>
    /// Hashes <paramref name="width"/> tile entries up to the top of the tile, keeping the nodes from
    /// <paramref name="lowestHeight"/> up. <paramref name="scratch"/> holds at least 128 hashes.
    /// A full tile's root is <c>Node(8, 0)</c>.
    /// </summary>
    public static TileSummary Build(ReadOnlySpan<byte> entries, int width, int lowestHeight, Span<byte> scratch)
    {
        Ledger.Sdk.Invariant.Check(width is > 0 and <= TileLayout.TileWidthMax && entries.Length >= width * MerkleHash.Size);
        Ledger.Sdk.Invariant.Check(lowestHeight is >= 1 and <= TileLayout.TileHeight);
        Ledger.Sdk.Invariant.Check(scratch.Length >= TileLayout.TileWidthMax / 2 * MerkleHash.Size);
        var nodes = new byte[Offset(lowestHeight, TileLayout.TileHeight + 1) * MerkleHash.Size];
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
            if (height >= lowestHeight)
            {
                scratch[..(count * MerkleHash.Size)].CopyTo(nodes.AsSpan(Offset(lowestHeight, height) * MerkleHash.Size));
            }
        }

        return new TileSummary(width, lowestHeight, nodes);
    }

    /// <summary>Index of the first node of in-tile height <paramref name="height"/> in the node array.</summary>
    private static int Offset(int lowestHeight, int height)
    {
        var offset = 0;
        for (var lower = lowestHeight; lower < height; lower++)
        {
            offset += TileLayout.TileWidthMax >> lower;
        }

        return offset;
    }
}
