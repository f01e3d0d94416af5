using System.Buffers.Binary;
using System.Text;
using Ledger.Sdk;
using Ledger.Storage;

namespace Ledger.Node.State;

/// <summary>
/// RocksDB keys of the node (the tree's keys start with 't' and belong to the tile tree):
/// <list type="bullet">
/// <item><c>'a'</c> applied position: u64 batch index, u64 tree size, u64 last leaf timestamp (ms)</item>
/// <item><c>'b' u64 index</c> the batch log: encoded batches not yet applied</item>
/// <item><c>'d' digest[32] issuer</c> digest index: u64 leaf index</item>
/// <item><c>'i'</c> u64 tree size below which every leaf's digest index entry is stored (the rest are in memory); a store written before it existed gets it at open</item>
/// <item><c>'l' u64 index</c> leaf bytes (SPEC §3)</item>
/// <item><c>'n' u64 issuedAtMs u8 issuerLength issuer nonce</c> accepted nonces (empty value)</item>
/// </list>
/// Integers are big-endian so that keys sort in numeric order.
/// </summary>
internal static class StateKeys
{
    public const byte Applied = (byte)'a';
    public const byte BatchLog = (byte)'b';
    public const byte DigestIndex = (byte)'d';
    public const byte Indexed = (byte)'i';
    public const byte Leaf = (byte)'l';
    public const byte Nonce = (byte)'n';

    public static readonly byte[] AppliedKey = [Applied];

    public static readonly byte[] IndexedKey = [Indexed];

    /// <summary>
    /// Column families of the state store. The digest index (random keys) and the leaves (keys
    /// written in increasing order, never changed) each have their own, apart from the tiles and the
    /// rest: mixed in one, every compaction rewrote the leaves with the random keys around them.
    /// </summary>
    public static readonly IReadOnlyList<KeyFamily> StoreFamilies = [new("digest-index", DigestIndex, RandomKeys: true), new("leaves", Leaf)];

    public static byte[] BatchLogKey(ulong index) => WithIndex(BatchLog, index);

    public static byte[] LeafKey(ulong index) => WithIndex(Leaf, index);

    public static byte[] DigestKey(ReadOnlySpan<byte> digest, string issuer)
    {
        Invariant.Check(digest.Length == Sdk.Leaf.DigestLength);
        var key = new byte[1 + digest.Length + issuer.Length];
        key[0] = DigestIndex;
        digest.CopyTo(key.AsSpan(1));
        Encoding.ASCII.GetBytes(issuer, key.AsSpan(1 + digest.Length));
        return key;
    }

    public static byte[] DigestPrefix(ReadOnlySpan<byte> digest)
    {
        var key = new byte[1 + digest.Length];
        key[0] = DigestIndex;
        digest.CopyTo(key.AsSpan(1));
        return key;
    }

    public static byte[] NonceKey(ulong issuedAtMs, string issuer, ReadOnlySpan<byte> nonce)
    {
        var key = new byte[1 + 8 + 1 + issuer.Length + nonce.Length];
        key[0] = Nonce;
        BinaryPrimitives.WriteUInt64BigEndian(key.AsSpan(1), issuedAtMs);
        key[9] = (byte)issuer.Length;
        Encoding.ASCII.GetBytes(issuer, key.AsSpan(10));
        nonce.CopyTo(key.AsSpan(10 + issuer.Length));
        return key;
    }

    public static (ulong IssuedAtMs, string Issuer, byte[] Nonce) ParseNonceKey(ReadOnlySpan<byte> key)
    {
        Invariant.Check(key.Length > 10 && key[0] == Nonce);
        var issuedAtMs = BinaryPrimitives.ReadUInt64BigEndian(key[1..]);
        var issuerLength = key[9];
        Invariant.Check(key.Length >= 10 + issuerLength);
        var issuer = Encoding.ASCII.GetString(key.Slice(10, issuerLength));
        return (issuedAtMs, issuer, key[(10 + issuerLength)..].ToArray());
    }

    public static ulong ParseIndexKey(ReadOnlySpan<byte> key)
    {
        Invariant.Check(key.Length == 9);
        return BinaryPrimitives.ReadUInt64BigEndian(key[1..]);
    }

    public static byte[] EncodeIndex(ulong index)
    {
        var value = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(value, index);
        return value;
    }

    public static ulong DecodeIndex(ReadOnlySpan<byte> value)
    {
        Invariant.Check(value.Length == 8);
        return BinaryPrimitives.ReadUInt64BigEndian(value);
    }

    /// <summary>The pairs whose key starts with <paramref name="prefix"/>, in key order.</summary>
    public static IEnumerable<KeyValuePair<byte[], byte[]>> ScanPrefix(IKeyValueStore store, byte[] prefix)
    {
        var end = (byte[])prefix.Clone();
        var i = end.Length - 1;
        while (i >= 0 && end[i] == byte.MaxValue)
        {
            end[i] = 0;
            i--;
        }

        Invariant.Check(i >= 0);
        end[i]++;
        return store.Scan(prefix, end);
    }

    /// <summary>Bytes of a key made of a prefix and a u64 index (<see cref="LeafKey"/>, <see cref="BatchLogKey"/>).</summary>
    public const int IndexKeyLength = 9;

    /// <summary>Writes <see cref="LeafKey"/> of <paramref name="index"/> into <paramref name="buffer"/>; returns the part used.</summary>
    public static ReadOnlySpan<byte> WriteLeafKey(ulong index, Span<byte> buffer) => WriteWithIndex(Leaf, index, buffer);

    private static byte[] WithIndex(byte prefix, ulong index)
    {
        var key = new byte[IndexKeyLength];
        WriteWithIndex(prefix, index, key);
        return key;
    }

    private static ReadOnlySpan<byte> WriteWithIndex(byte prefix, ulong index, Span<byte> buffer)
    {
        buffer[0] = prefix;
        BinaryPrimitives.WriteUInt64BigEndian(buffer[1..], index);
        return buffer[..IndexKeyLength];
    }
}

/// <summary>Where apply stands: the last applied batch, the tree size after it, and its timestamp.</summary>
internal sealed record AppliedPosition(ulong BatchIndex, ulong TreeSize, ulong TimestampMs)
{
    public static readonly AppliedPosition Start = new(0, 0, 0);

    public byte[] Encode()
    {
        var value = new byte[24];
        BinaryPrimitives.WriteUInt64BigEndian(value, BatchIndex);
        BinaryPrimitives.WriteUInt64BigEndian(value.AsSpan(8), TreeSize);
        BinaryPrimitives.WriteUInt64BigEndian(value.AsSpan(16), TimestampMs);
        return value;
    }

    public static AppliedPosition Decode(ReadOnlySpan<byte> value)
    {
        Invariant.Check(value.Length == 24);
        return new AppliedPosition(
            BinaryPrimitives.ReadUInt64BigEndian(value),
            BinaryPrimitives.ReadUInt64BigEndian(value[8..]),
            BinaryPrimitives.ReadUInt64BigEndian(value[16..]));
    }
}
