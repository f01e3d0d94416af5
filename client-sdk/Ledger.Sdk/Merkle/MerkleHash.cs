using System.Security.Cryptography;

namespace Ledger.Sdk.Merkle;

/// <summary>
/// The hashes of an RFC 6962 §2.1 (RFC 9162 §2.1.1) Merkle tree over SHA-256: a leaf hash is
/// <c>SHA-256(0x00 || leaf)</c>, an interior node hash is <c>SHA-256(0x01 || left || right)</c>, and
/// the empty tree's root is <c>SHA-256("")</c>. The span overloads allocate nothing.
/// </summary>
public static class MerkleHash
{
    /// <summary>Bytes in every hash of the tree (SHA-256).</summary>
    public const int Size = 32;

    private const byte LeafPrefix = 0x00;
    private const byte NodePrefix = 0x01;

    /// <summary>Inputs up to this many bytes are hashed from a stack buffer; longer ones are fed in parts.</summary>
    private const int StackInputBytesMax = 256;

    /// <summary>The root of the empty tree, <c>SHA-256("")</c>.</summary>
    public static byte[] EmptyRoot() => SHA256.HashData(ReadOnlySpan<byte>.Empty);

    /// <summary>The hash of the leaf whose bytes are <paramref name="leafBytes"/>.</summary>
    public static byte[] Leaf(ReadOnlySpan<byte> leafBytes)
    {
        var hash = new byte[Size];
        Leaf(leafBytes, hash);
        return hash;
    }

    /// <summary>Writes the leaf hash of <paramref name="leafBytes"/> into the first 32 bytes of <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than 32 bytes.</exception>
    public static void Leaf(ReadOnlySpan<byte> leafBytes, Span<byte> destination)
    {
        RequireDestination(destination);
        if (leafBytes.Length < StackInputBytesMax)
        {
            Span<byte> input = stackalloc byte[1 + leafBytes.Length];
            input[0] = LeafPrefix;
            leafBytes.CopyTo(input[1..]);
            HashInto(input, destination);
            return;
        }

        HashLarge(LeafPrefix, leafBytes, ReadOnlySpan<byte>.Empty, destination);
    }

    /// <summary>The interior node hash of two children (normally two 32-byte hashes).</summary>
    public static byte[] Node(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right)
    {
        var hash = new byte[Size];
        Node(left, right, hash);
        return hash;
    }

    /// <summary>
    /// Writes the interior node hash of <paramref name="left"/> and <paramref name="right"/> into the
    /// first 32 bytes of <paramref name="destination"/>; the destination may overlap either input.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than 32 bytes.</exception>
    public static void Node(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right, Span<byte> destination)
    {
        RequireDestination(destination);
        var inputBytes = 1 + left.Length + right.Length;
        if (inputBytes <= StackInputBytesMax)
        {
            Span<byte> input = stackalloc byte[inputBytes];
            input[0] = NodePrefix;
            left.CopyTo(input[1..]);
            right.CopyTo(input[(1 + left.Length)..]);
            HashInto(input, destination);
            return;
        }

        HashLarge(NodePrefix, left, right, destination);
    }

    private static void HashInto(ReadOnlySpan<byte> input, Span<byte> destination) => Sha256.Hash(input, destination);

    private static void HashLarge(byte prefix, ReadOnlySpan<byte> first, ReadOnlySpan<byte> second, Span<byte> destination)
    {
        ReadOnlySpan<byte> prefixBytes = [prefix];
        Sha256.Hash(prefixBytes, first, second, destination);
    }

    private static void RequireDestination(Span<byte> destination)
    {
        if (destination.Length < Size)
        {
            throw new ArgumentException($"destination holds {destination.Length} bytes, a hash needs {Size}", nameof(destination));
        }
    }
}
