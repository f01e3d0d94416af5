using Ledger.Sdk.Merkle;

namespace Ledger.Sdk.Tests.Merkle;

public sealed class MerkleProofTests
{
    private static MerkleVectors Vectors => MerkleVectors.Instance;

    public static TheoryData<int> InclusionCases() => [.. Enumerable.Range(0, Vectors.Inclusion.Length)];

    public static TheoryData<int> ConsistencyCases() => [.. Enumerable.Range(0, Vectors.Consistency.Length)];

    [Fact]
    public void Vector_file_covers_every_pair_up_to_eight_leaves()
    {
        Assert.Equal(36, Vectors.Inclusion.Length);
        Assert.Equal(36, Vectors.Consistency.Length);
        Assert.Equal(9, Vectors.Roots.Length);
    }

    [Theory]
    [MemberData(nameof(InclusionCases))]
    public void Inclusion_vector_verifies(int number)
    {
        var (index, size, path) = Vectors.Inclusion[number];
        var leaf = Vectors.LeafHashes[index];
        var root = Vectors.Roots[size];
        Assert.Equal(path.Length, MerkleProof.InclusionProofLength(index, size));
        Assert.Equal(root, MerkleProof.RootFromInclusionProof(index, size, leaf, path));
        Assert.True(MerkleProof.VerifyInclusion(index, size, leaf, path, root));
    }

    [Theory]
    [MemberData(nameof(InclusionCases))]
    public void Inclusion_vector_with_any_flipped_bit_fails(int number)
    {
        var (index, size, path) = Vectors.Inclusion[number];
        var leaf = Vectors.LeafHashes[index];
        var root = Vectors.Roots[size];
        foreach (var tampered in EveryFlippedBit(path))
        {
            Assert.False(MerkleProof.VerifyInclusion(index, size, leaf, tampered, root));
            Assert.NotEqual(root, MerkleProof.RootFromInclusionProof(index, size, leaf, tampered));
        }

        foreach (var flippedLeaf in EveryFlippedBit([leaf]))
        {
            Assert.False(MerkleProof.VerifyInclusion(index, size, flippedLeaf[0], path, root));
        }

        foreach (var flippedRoot in EveryFlippedBit([root]))
        {
            Assert.False(MerkleProof.VerifyInclusion(index, size, leaf, path, flippedRoot[0]));
        }
    }

    [Theory]
    [MemberData(nameof(InclusionCases))]
    public void Inclusion_vector_with_wrong_length_or_element_size_fails(int number)
    {
        var (index, size, path) = Vectors.Inclusion[number];
        var leaf = Vectors.LeafHashes[index];
        var root = Vectors.Roots[size];
        Assert.Null(MerkleProof.RootFromInclusionProof(index, size, leaf, [.. path, root]));
        Assert.False(MerkleProof.VerifyInclusion(index, size, leaf, [.. path, root], root));
        if (path.Length > 0)
        {
            Assert.Null(MerkleProof.RootFromInclusionProof(index, size, leaf, path[..^1]));
            Assert.False(MerkleProof.VerifyInclusion(index, size, leaf, path[..^1], root));
            Assert.False(MerkleProof.VerifyInclusion(index, size, leaf, path[1..], root));
        }

        foreach (var resized in EveryResizedElement(path))
        {
            Assert.Null(MerkleProof.RootFromInclusionProof(index, size, leaf, resized));
            Assert.False(MerkleProof.VerifyInclusion(index, size, leaf, resized, root));
        }

        Assert.False(MerkleProof.VerifyInclusion(index, size, leaf.AsSpan(0, 31), path, root));
        Assert.False(MerkleProof.VerifyInclusion(index, size, leaf, path, root.AsSpan(0, 31)));
        Assert.False(MerkleProof.VerifyInclusion(index, size, [.. leaf, 0], path, root));
    }

    [Theory]
    [MemberData(nameof(InclusionCases))]
    public void Inclusion_vector_at_another_index_or_size_fails(int number)
    {
        var (index, size, path) = Vectors.Inclusion[number];
        var leaf = Vectors.LeafHashes[index];
        var root = Vectors.Roots[size];
        for (ulong otherIndex = 0; otherIndex <= size + 1; otherIndex++)
        {
            if (otherIndex != index)
            {
                Assert.False(MerkleProof.VerifyInclusion(otherIndex, size, leaf, path, root));
            }
        }

        // A size is only bound through the proof's shape: the same path proves the leaf into another
        // tree exactly when it is that tree's own path (shapes coincide), never otherwise.
        for (ulong otherSize = 0; otherSize <= 9; otherSize++)
        {
            if (otherSize == size)
            {
                continue;
            }

            var otherRoot = otherSize <= 8 ? Vectors.Roots[otherSize] : root;
            var expected = Vectors.Inclusion.Any(v => v.Index == index && v.Size == otherSize && SameHashes(v.Path, path));
            Assert.Equal(expected, MerkleProof.VerifyInclusion(index, otherSize, leaf, path, otherRoot));
            if (index >= otherSize || MerkleProof.InclusionProofLength(index, otherSize) != path.Length)
            {
                Assert.False(MerkleProof.VerifyInclusion(index, otherSize, leaf, path, root));
            }
        }

        Assert.Null(MerkleProof.RootFromInclusionProof(size, size, leaf, path));
        Assert.Null(MerkleProof.RootFromInclusionProof(ulong.MaxValue, size, leaf, path));
    }

    [Theory]
    [MemberData(nameof(ConsistencyCases))]
    public void Consistency_vector_verifies(int number)
    {
        var (size1, size2, proof) = Vectors.Consistency[number];
        Assert.Equal(proof.Length, MerkleProof.ConsistencyProofLength(size1, size2));
        Assert.True(MerkleProof.VerifyConsistency(size1, size2, Vectors.Roots[size1], Vectors.Roots[size2], proof));
    }

    [Theory]
    [MemberData(nameof(ConsistencyCases))]
    public void Consistency_vector_with_any_flipped_bit_fails(int number)
    {
        var (size1, size2, proof) = Vectors.Consistency[number];
        var root1 = Vectors.Roots[size1];
        var root2 = Vectors.Roots[size2];
        foreach (var tampered in EveryFlippedBit(proof))
        {
            Assert.False(MerkleProof.VerifyConsistency(size1, size2, root1, root2, tampered));
        }

        foreach (var flipped in EveryFlippedBit([root1]))
        {
            Assert.False(MerkleProof.VerifyConsistency(size1, size2, flipped[0], root2, proof));
        }

        foreach (var flipped in EveryFlippedBit([root2]))
        {
            Assert.False(MerkleProof.VerifyConsistency(size1, size2, root1, flipped[0], proof));
        }
    }

    [Theory]
    [MemberData(nameof(ConsistencyCases))]
    public void Consistency_vector_with_wrong_length_sizes_or_element_size_fails(int number)
    {
        var (size1, size2, proof) = Vectors.Consistency[number];
        var root1 = Vectors.Roots[size1];
        var root2 = Vectors.Roots[size2];
        Assert.False(MerkleProof.VerifyConsistency(size1, size2, root1, root2, [.. proof, root1]));
        if (proof.Length > 0)
        {
            Assert.False(MerkleProof.VerifyConsistency(size1, size2, root1, root2, proof[..^1]));
            Assert.False(MerkleProof.VerifyConsistency(size2, size1, root2, root1, proof));
        }

        foreach (var resized in EveryResizedElement(proof))
        {
            Assert.False(MerkleProof.VerifyConsistency(size1, size2, root1, root2, resized));
        }

        // Claiming other sizes with the other tree's true root: valid only where the vector file
        // has exactly this proof for that pair of sizes.
        for (ulong other = 1; other <= 8; other++)
        {
            if (other != size2)
            {
                var expected = Vectors.Consistency.Any(v => v.Size1 == size1 && v.Size2 == other && SameHashes(v.Proof, proof));
                Assert.Equal(expected, MerkleProof.VerifyConsistency(size1, other, root1, Vectors.Roots[other], proof));
            }

            if (other != size1)
            {
                var expected = Vectors.Consistency.Any(v => v.Size1 == other && v.Size2 == size2 && SameHashes(v.Proof, proof));
                Assert.Equal(expected, MerkleProof.VerifyConsistency(other, size2, Vectors.Roots[other], root2, proof));
            }
        }

        Assert.False(MerkleProof.VerifyConsistency(size1, size2, root1.AsSpan(0, 31), root2, proof));
        Assert.False(MerkleProof.VerifyConsistency(size1, size2, root1, [.. root2, 0], proof));
    }

    [Fact]
    public void Empty_first_tree_is_consistent_with_any_tree_given_an_empty_proof()
    {
        var empty = MerkleHash.EmptyRoot();
        for (ulong size2 = 0; size2 <= 8; size2++)
        {
            Assert.Equal(0, MerkleProof.ConsistencyProofLength(0, size2));
            Assert.True(MerkleProof.VerifyConsistency(0, size2, empty, Vectors.Roots[size2], []));
            Assert.False(MerkleProof.VerifyConsistency(0, size2, empty, Vectors.Roots[size2], [empty]));
            Assert.False(MerkleProof.VerifyConsistency(0, size2, Vectors.Roots[1], Vectors.Roots[size2], []));
        }
    }

    [Fact]
    public void Equal_sizes_need_equal_roots_and_no_proof()
    {
        for (ulong size = 1; size <= 8; size++)
        {
            Assert.True(MerkleProof.VerifyConsistency(size, size, Vectors.Roots[size], Vectors.Roots[size], []));
            var other = Vectors.Roots[size == 8 ? 7 : size + 1];
            Assert.False(MerkleProof.VerifyConsistency(size, size, Vectors.Roots[size], other, []));
            Assert.False(MerkleProof.VerifyConsistency(size, size, Vectors.Roots[size], Vectors.Roots[size], [other]));
        }
    }

    [Fact]
    public void Length_helpers_reject_impossible_sizes()
    {
        var inclusion = Assert.Throws<ArgumentOutOfRangeException>(() => MerkleProof.InclusionProofLength(5, 5));
        Assert.Contains("5", inclusion.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => MerkleProof.InclusionProofLength(0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => MerkleProof.ConsistencyProofLength(3, 2));
        Assert.Equal(64, MerkleProof.InclusionProofLength(0, ulong.MaxValue));
        Assert.Equal(0, MerkleProof.InclusionProofLength(0, 1));
    }

    [Fact]
    public void Null_entries_in_a_proof_are_invalid_not_a_crash()
    {
        var (index, size, path) = Vectors.Inclusion.First(v => v.Path.Length > 0);
        var withNull = (byte[][])path.Clone();
        withNull[0] = null!;
        Assert.False(MerkleProof.VerifyInclusion(index, size, Vectors.LeafHashes[index], withNull, Vectors.Roots[size]));
    }

    private static bool SameHashes(byte[][] left, byte[][] right) =>
        left.Length == right.Length && left.Zip(right).All(pair => pair.First.AsSpan().SequenceEqual(pair.Second));

    private static IEnumerable<byte[][]> EveryFlippedBit(byte[][] proof)
    {
        for (var element = 0; element < proof.Length; element++)
        {
            for (var bit = 0; bit < proof[element].Length * 8; bit++)
            {
                var copy = proof.Select(h => (byte[])h.Clone()).ToArray();
                copy[element][bit / 8] ^= (byte)(1 << (bit % 8));
                yield return copy;
            }
        }
    }

    private static IEnumerable<byte[][]> EveryResizedElement(byte[][] proof)
    {
        for (var element = 0; element < proof.Length; element++)
        {
            var shorter = (byte[][])proof.Clone();
            shorter[element] = proof[element][..31];
            yield return shorter;
            var longer = (byte[][])proof.Clone();
            longer[element] = [.. proof[element], 0];
            yield return longer;
        }
    }
}
