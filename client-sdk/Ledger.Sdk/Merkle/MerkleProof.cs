using System.Numerics;
using System.Security.Cryptography;

namespace Ledger.Sdk.Merkle;

/// <summary>
/// Verification of RFC 9162 §2.1.3 inclusion proofs and §2.1.4 consistency proofs (the same proofs as
/// RFC 6962 §2.1.1–2.1.2). A proof is a list of 32-byte hashes; a proof of the wrong length, or with an
/// element that is not exactly 32 bytes, is invalid. Invalid input never throws: the verifiers return
/// <see langword="false"/> (or <see langword="null"/>), only the length helpers throw on bad sizes.
/// </summary>
public static class MerkleProof
{
    /// <summary>
    /// The number of hashes in the inclusion proof of leaf <paramref name="index"/> in a tree of
    /// <paramref name="size"/> leaves.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is not below <paramref name="size"/>.</exception>
    public static int InclusionProofLength(ulong index, ulong size)
    {
        if (index >= size)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"leaf index {index} is not below tree size {size}");
        }

        var (inner, border) = DecomposeInclusion(index, size);
        return inner + border;
    }

    /// <summary>
    /// The number of hashes in the consistency proof from a tree of <paramref name="size1"/> leaves to
    /// one of <paramref name="size2"/> leaves: zero when the sizes are equal or the first tree is empty.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size1"/> is above <paramref name="size2"/>.</exception>
    public static int ConsistencyProofLength(ulong size1, ulong size2)
    {
        if (size1 > size2)
        {
            throw new ArgumentOutOfRangeException(nameof(size1), size1, $"first tree size {size1} is above second tree size {size2}");
        }

        if (size1 == 0 || size1 == size2)
        {
            return 0;
        }

        var (inner, border) = DecomposeConsistency(size1, size2);
        var seedHashes = BitOperations.IsPow2(size1) ? 0 : 1;
        return seedHashes + inner + border;
    }

    /// <summary>
    /// The root that the inclusion proof of leaf <paramref name="index"/> (hash <paramref name="leafHash"/>)
    /// recomputes for a tree of <paramref name="size"/> leaves (RFC 9162 §2.1.3.2), or <see langword="null"/>
    /// when the index is not below the size, the leaf hash or any proof hash is not 32 bytes, or the proof
    /// has the wrong number of hashes.
    /// </summary>
    public static byte[]? RootFromInclusionProof(ulong index, ulong size, ReadOnlySpan<byte> leafHash, IReadOnlyList<byte[]> proof)
    {
        var root = new byte[MerkleHash.Size];
        return TryRootFromInclusionProof(index, size, leafHash, proof, root) ? root : null;
    }

    /// <summary>
    /// Whether <paramref name="proof"/> proves that the leaf with hash <paramref name="leafHash"/> is at
    /// <paramref name="index"/> in the tree of <paramref name="size"/> leaves whose root is <paramref name="root"/>.
    /// </summary>
    public static bool VerifyInclusion(ulong index, ulong size, ReadOnlySpan<byte> leafHash, IReadOnlyList<byte[]> proof, ReadOnlySpan<byte> root)
    {
        Span<byte> computed = stackalloc byte[MerkleHash.Size];
        return root.Length == MerkleHash.Size
            && TryRootFromInclusionProof(index, size, leafHash, proof, computed)
            && CryptographicOperations.FixedTimeEquals(computed, root);
    }

    /// <summary>
    /// Whether <paramref name="proof"/> proves that the tree of <paramref name="size1"/> leaves with root
    /// <paramref name="root1"/> is a prefix of the tree of <paramref name="size2"/> leaves with root
    /// <paramref name="root2"/> (RFC 9162 §2.1.4.2). Equal sizes need an empty proof and equal roots; an
    /// empty first tree needs an empty proof and <paramref name="root1"/> equal to the empty root.
    /// A first size above the second is never consistent.
    /// </summary>
    public static bool VerifyConsistency(ulong size1, ulong size2, ReadOnlySpan<byte> root1, ReadOnlySpan<byte> root2, IReadOnlyList<byte[]> proof)
    {
        if (size1 > size2 || root1.Length != MerkleHash.Size || root2.Length != MerkleHash.Size || !AllHashSized(proof))
        {
            return false;
        }

        if (proof.Count != ConsistencyProofLength(size1, size2))
        {
            return false;
        }

        if (size1 == 0)
        {
            return CryptographicOperations.FixedTimeEquals(root1, MerkleHash.EmptyRoot());
        }

        if (size1 == size2)
        {
            return CryptographicOperations.FixedTimeEquals(root1, root2);
        }

        return ChainConsistency(size1, size2, root1, root2, proof);
    }

    private static bool TryRootFromInclusionProof(ulong index, ulong size, ReadOnlySpan<byte> leafHash, IReadOnlyList<byte[]> proof, Span<byte> root)
    {
        if (index >= size || leafHash.Length != MerkleHash.Size || !AllHashSized(proof))
        {
            return false;
        }

        var (inner, border) = DecomposeInclusion(index, size);
        if (proof.Count != inner + border)
        {
            return false;
        }

        leafHash.CopyTo(root);
        for (var position = 0; position < inner; position++)
        {
            var sibling = proof[position];
            if (((index >> position) & 1) == 0)
            {
                MerkleHash.Node(root, sibling, root);
            }
            else
            {
                MerkleHash.Node(sibling, root, root);
            }
        }

        ChainBorder(proof, inner, root);
        return true;
    }

    /// <summary>
    /// RFC 9162 §2.1.4.2 restated on the decomposition of the path of leaf <c>size1 - 1</c>: the seed is the
    /// root of the largest full subtree that ends the first tree; above it, the "inner" levels combine
    /// both hashes while only left siblings feed the first root, and the "border" levels are left siblings
    /// for both.
    /// </summary>
    private static bool ChainConsistency(ulong size1, ulong size2, ReadOnlySpan<byte> root1, ReadOnlySpan<byte> root2, IReadOnlyList<byte[]> proof)
    {
        var (inner, border) = DecomposeConsistency(size1, size2);
        var shift = BitOperations.TrailingZeroCount(size1);
        var seedFromProof = !BitOperations.IsPow2(size1);
        var start = seedFromProof ? 1 : 0;
        Span<byte> first = stackalloc byte[MerkleHash.Size];
        Span<byte> second = stackalloc byte[MerkleHash.Size];
        var seed = seedFromProof ? proof[0] : root1;
        seed.CopyTo(first);
        seed.CopyTo(second);
        var pathBits = (size1 - 1) >> shift;
        for (var position = 0; position < inner; position++)
        {
            var sibling = proof[start + position];
            if (((pathBits >> position) & 1) == 1)
            {
                MerkleHash.Node(sibling, first, first);
                MerkleHash.Node(sibling, second, second);
            }
            else
            {
                MerkleHash.Node(second, sibling, second);
            }
        }

        ChainBorder(proof, start + inner, first);
        ChainBorder(proof, start + inner, second);
        var firstMatches = CryptographicOperations.FixedTimeEquals(first, root1);
        var secondMatches = CryptographicOperations.FixedTimeEquals(second, root2);
        return firstMatches & secondMatches;
    }

    /// <summary>Border levels: every remaining proof hash is a left sibling.</summary>
    private static void ChainBorder(IReadOnlyList<byte[]> proof, int start, Span<byte> hash)
    {
        for (var position = start; position < proof.Count; position++)
        {
            MerkleHash.Node(proof[position], hash, hash);
        }
    }

    /// <summary>
    /// Splits the audit path of leaf <paramref name="index"/> in a tree of <paramref name="size"/>:
    /// <c>inner</c> levels lie below the point where the path leaves the perfect subtree shared with
    /// leaf <c>size - 1</c>, and <c>border</c> counts the left siblings above it.
    /// </summary>
    private static (int Inner, int Border) DecomposeInclusion(ulong index, ulong size)
    {
        Invariant.Check(index < size);
        var inner = 64 - BitOperations.LeadingZeroCount(index ^ (size - 1));
        var border = BitOperations.PopCount(index >> inner);
        return (inner, border);
    }

    private static (int Inner, int Border) DecomposeConsistency(ulong size1, ulong size2)
    {
        Invariant.Check(size1 > 0 && size1 < size2);
        var (inner, border) = DecomposeInclusion(size1 - 1, size2);
        inner -= BitOperations.TrailingZeroCount(size1);
        return (inner, border);
    }

    private static bool AllHashSized(IReadOnlyList<byte[]> proof)
    {
        if (proof is null)
        {
            return false;
        }

        for (var position = 0; position < proof.Count; position++)
        {
            if (proof[position] is not { Length: MerkleHash.Size })
            {
                return false;
            }
        }

        return true;
    }
}
