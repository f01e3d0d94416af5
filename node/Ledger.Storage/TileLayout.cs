using System.Buffers.Binary;
using Ledger.Sdk.Merkle;

namespace Ledger.Storage;

/// <summary>
/// Where the tiled tree lives in the store (C2SP tlog-tiles semantics, our own key encoding):
/// <c>'t' || level (1 byte) || tile index (8 bytes, big-endian)</c> holds the tile's concatenated
/// 32-byte hashes; <c>'t' || 0xFF</c> holds the tree size (8 bytes, big-endian).
/// A tile at level L, index N holds up to 256 consecutive hashes of full subtrees of height 8·L,
/// the first being number 256·N at that height; level-0 tiles hold leaf hashes.
/// </summary>
internal static class TileLayout
{
    public const byte KeyPrefix = (byte)'t';
    public const byte SizeMarker = 0xFF;

    /// <summary>Hashes in a full tile.</summary>
    public const int TileWidthMax = 256;

    /// <summary>Tree levels one tile spans (log2 of <see cref="TileWidthMax"/>).</summary>
    public const int TileHeight = 8;

    /// <summary>Tile levels a 64-bit tree size can need: a level-8 tile would hold subtrees of 2^64 leaves.</summary>
    public const int LevelsMax = 8;

    public const int TileKeyBytes = 10;

    public const int TileBytesMax = TileWidthMax * MerkleHash.Size;

    public static readonly byte[] SizeKey = [KeyPrefix, SizeMarker];

    public static byte[] TileKey(int level, ulong index)
    {
        Ledger.Sdk.Invariant.Check(level is >= 0 and < LevelsMax);
        var key = new byte[TileKeyBytes];
        key[0] = KeyPrefix;
        key[1] = (byte)level;
        BinaryPrimitives.WriteUInt64BigEndian(key.AsSpan(2), index);
        return key;
    }

    /// <summary>Hashes stored at tile level <paramref name="level"/> for a tree of <paramref name="size"/> leaves.</summary>
    public static ulong EntriesAt(ulong size, int level) => level < LevelsMax ? size >> (TileHeight * level) : 0;
}
