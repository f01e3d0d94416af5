namespace Ledger.Storage;

/// <summary>
/// Unsigned lexicographic order of byte strings (RocksDB's default comparator order), and equality
/// by content.
/// </summary>
internal sealed class ByteKeyComparer : IComparer<byte[]>, IEqualityComparer<byte[]>
{
    public static readonly ByteKeyComparer Instance = new();

    public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y.AsSpan());

    public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y.AsSpan());

    public int GetHashCode(byte[] obj)
    {
        var hash = new HashCode();
        hash.AddBytes(obj);
        return hash.ToHashCode();
    }
}
