using CsCheck;
using Ledger.Sdk.Merkle;

namespace Ledger.Storage.Tests;

/// <summary>Every consistency proof between trees of up to 64 leaves, and tampered variants of each.</summary>
public sealed class TileTreeConsistencyTests
{
    private const int SizeMax = 64;

    private static readonly Lazy<(TileTree Tree, byte[][] Roots)> Small = new(Build);

    private static TileTree Tree => Small.Value.Tree;

    private static byte[][] Roots => Small.Value.Roots;

    [Fact]
    public void Every_proof_up_to_64_leaves_matches_the_reference_and_verifies()
    {
        var checkedPairs = 0;
        for (var size2 = 0; size2 <= SizeMax; size2++)
        {
            Assert.Equal(ReferenceMerkle.Root(Leaves.All.AsSpan(0, size2)), Roots[size2]);
            for (var size1 = 0; size1 <= size2; size1++)
            {
                var proof = Tree.ConsistencyProof((ulong)size1, (ulong)size2);
                Assert.Equal(ReferenceMerkle.Consistency(size1, Leaves.All.AsSpan(0, size2)), proof);
                Assert.Equal(MerkleProof.ConsistencyProofLength((ulong)size1, (ulong)size2), proof.Length);
                Assert.True(MerkleProof.VerifyConsistency((ulong)size1, (ulong)size2, Roots[size1], Roots[size2], proof));
                checkedPairs++;
            }
        }

        Assert.Equal((SizeMax + 1) * (SizeMax + 2) / 2, checkedPairs);
    }

    [Fact]
    public void Every_proof_with_a_flipped_bit_in_any_element_fails()
    {
        for (var size2 = 1; size2 <= SizeMax; size2++)
        {
            for (var size1 = 1; size1 < size2; size1++)
            {
                var proof = Tree.ConsistencyProof((ulong)size1, (ulong)size2);
                for (var element = 0; element < proof.Length; element++)
                {
                    // One bit per element here, a different one for each pair; the property below draws bits at random.
                    var bit = (size1 * 31 + size2 * 7 + element * 13) % (MerkleHash.Size * 8);
                    Assert.False(MerkleProof.VerifyConsistency((ulong)size1, (ulong)size2, Roots[size1], Roots[size2], Flip(proof, element, bit)));
                }
            }
        }
    }

    [Fact]
    public void Any_flipped_bit_in_any_proof_fails()
    {
        var pairs = from size2 in Gen.Int[2, SizeMax]
                    from size1 in Gen.Int[1, size2 - 1]
                    from element in Gen.Int[0, 1000]
                    from bit in Gen.Int[0, MerkleHash.Size * 8 - 1]
                    select (size1, size2, element, bit);
        pairs.Sample((size1, size2, element, bit) =>
        {
            var proof = Tree.ConsistencyProof((ulong)size1, (ulong)size2);
            var tampered = Flip(proof, element % proof.Length, bit);
            return !MerkleProof.VerifyConsistency((ulong)size1, (ulong)size2, Roots[size1], Roots[size2], tampered);
        }, iter: 20_000);
    }

    [Fact]
    public void Proofs_one_hash_short_or_long_or_with_swapped_sizes_fail()
    {
        for (var size2 = 1; size2 <= SizeMax; size2++)
        {
            for (var size1 = 1; size1 < size2; size1++)
            {
                var proof = Tree.ConsistencyProof((ulong)size1, (ulong)size2);
                Assert.NotEmpty(proof);
                var (s1, s2, r1, r2) = ((ulong)size1, (ulong)size2, Roots[size1], Roots[size2]);
                Assert.False(MerkleProof.VerifyConsistency(s1, s2, r1, r2, proof[..^1]));
                Assert.False(MerkleProof.VerifyConsistency(s1, s2, r1, r2, proof[1..]));
                Assert.False(MerkleProof.VerifyConsistency(s1, s2, r1, r2, [.. proof, proof[0]]));
                Assert.False(MerkleProof.VerifyConsistency(s1, s2, r1, r2, [r1, .. proof]));
                Assert.False(MerkleProof.VerifyConsistency(s2, s1, r2, r1, proof));
                Assert.False(MerkleProof.VerifyConsistency(s1, s2, r2, r1, proof));
            }
        }
    }

    [Fact]
    public void Bad_sizes_are_rejected_with_precise_messages()
    {
        var above = Assert.Throws<ArgumentOutOfRangeException>(() => Tree.ConsistencyProof(1, SizeMax + 1));
        Assert.Contains($"size {SizeMax + 1} is above the tree size {SizeMax}", above.Message, StringComparison.Ordinal);
        var swapped = Assert.Throws<ArgumentOutOfRangeException>(() => Tree.ConsistencyProof(5, 3));
        Assert.Contains("first size 5 is above second size 3", swapped.Message, StringComparison.Ordinal);
        var index = Assert.Throws<ArgumentOutOfRangeException>(() => Tree.InclusionProof(7, 7));
        Assert.Contains("leaf index 7 is not below tree size 7", index.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => Tree.InclusionProof(0, SizeMax + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Tree.RootAt(SizeMax + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Tree.LeafHash(SizeMax));
    }

    private static byte[][] Flip(byte[][] proof, int element, int bit)
    {
        var copy = proof.Select(h => (byte[])h.Clone()).ToArray();
        copy[element][bit / 8] ^= (byte)(1 << (bit % 8));
        return copy;
    }

    private static (TileTree, byte[][]) Build()
    {
        var store = new InMemoryKeyValueStore();
        var tree = new TileTree(store);
        for (var leaf = 0; leaf < SizeMax; leaf++)
        {
            Leaves.AppendAndWrite(tree, store, leaf, 1);
        }

        return (tree, [.. Enumerable.Range(0, SizeMax + 1).Select(size => tree.RootAt((ulong)size))]);
    }
}
