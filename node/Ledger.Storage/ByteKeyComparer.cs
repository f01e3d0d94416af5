namespace Ledger.Storage;

/// <summary>Unsigned lexicographic order of byte strings, the order RocksDB's default comparator uses.</summary>
internal sealed class ByteKeyComparer : IComparer<byte[]>
{
    public static readonly ByteKeyComparer Instance = new();

    public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y.AsSpan());
}
