using System.Text;
using Ledger.Sdk.Merkle;

namespace Ledger.Sdk.Tests.Merkle;

public sealed class MerkleHashTests
{
    private static MerkleVectors Vectors => MerkleVectors.Instance;

    [Fact]
    public void Empty_root_is_sha256_of_nothing()
    {
        Assert.Equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Convert.ToHexStringLower(MerkleHash.EmptyRoot()));
        Assert.Equal(Vectors.HasherCheck("emptyRootHex"), MerkleHash.EmptyRoot());
        Assert.Equal(Vectors.Roots[0], MerkleHash.EmptyRoot());
    }

    [Fact]
    public void Hasher_checks_match_the_vectors()
    {
        Assert.Equal(Vectors.HasherCheck("leafHashOfEmptyHex"), MerkleHash.Leaf([]));
        Assert.Equal(Vectors.HasherCheck("leafHashOfAscii_L123456_Hex"), MerkleHash.Leaf("L123456"u8));
        Assert.Equal(Vectors.HasherCheck("nodeHashOfAscii_N123_N456_Hex"), MerkleHash.Node("N123"u8, "N456"u8));
    }

    [Fact]
    public void Leaf_hashes_of_every_vector_leaf_match()
    {
        Assert.Equal(Vectors.LeafInputs.Length, Vectors.LeafHashes.Length);
        var destination = new byte[MerkleHash.Size + 3];
        for (var i = 0; i < Vectors.LeafInputs.Length; i++)
        {
            Assert.Equal(Vectors.LeafHashes[i], MerkleHash.Leaf(Vectors.LeafInputs[i]));
            MerkleHash.Leaf(Vectors.LeafInputs[i], destination);
            Assert.Equal(Vectors.LeafHashes[i], destination.AsSpan(0, MerkleHash.Size).ToArray());
        }
    }

    [Fact]
    public void Roots_of_every_vector_prefix_match()
    {
        for (var size = 0; size < Vectors.Roots.Length; size++)
        {
            Assert.Equal(Vectors.Roots[size], ReferenceRoot(Vectors.LeafHashes.AsSpan(0, size)));
        }
    }

    [Fact]
    public void Leaf_hash_is_not_the_node_hash_of_its_halves()
    {
        var left = MerkleHash.Leaf("left"u8);
        var right = MerkleHash.Leaf("right"u8);
        var concatenated = left.Concat(right).ToArray();
        Assert.NotEqual(MerkleHash.Node(left, right), MerkleHash.Leaf(concatenated));
        Assert.NotEqual(System.Security.Cryptography.SHA256.HashData(concatenated), MerkleHash.Node(left, right));
    }

    [Fact]
    public void Long_inputs_hash_like_short_ones_would()
    {
        var longLeaf = Encoding.ASCII.GetBytes(new string('x', 1000));
        var expected = System.Security.Cryptography.SHA256.HashData([0x00, .. longLeaf]);
        Assert.Equal(expected, MerkleHash.Leaf(longLeaf));
        var expectedNode = System.Security.Cryptography.SHA256.HashData([0x01, .. longLeaf, .. longLeaf]);
        Assert.Equal(expectedNode, MerkleHash.Node(longLeaf, longLeaf));
    }

    [Fact]
    public void Node_destination_may_overlap_an_input()
    {
        var left = MerkleHash.Leaf("a"u8);
        var right = MerkleHash.Leaf("b"u8);
        var expected = MerkleHash.Node(left, right);
        var buffer = (byte[])left.Clone();
        MerkleHash.Node(buffer, right, buffer);
        Assert.Equal(expected, buffer);
        buffer = (byte[])right.Clone();
        MerkleHash.Node(left, buffer, buffer);
        Assert.Equal(expected, buffer);
    }

    [Fact]
    public void Short_destination_is_rejected()
    {
        var destination = new byte[MerkleHash.Size - 1];
        Assert.Throws<ArgumentException>(() => MerkleHash.Leaf("a"u8, destination));
        Assert.Throws<ArgumentException>(() => MerkleHash.Node("a"u8, "b"u8, destination));
    }

    /// <summary>RFC 6962 §2.1 read literally: split at the largest power of two below n.</summary>
    internal static byte[] ReferenceRoot(ReadOnlySpan<byte[]> leafHashes)
    {
        if (leafHashes.Length == 0)
        {
            return MerkleHash.EmptyRoot();
        }

        if (leafHashes.Length == 1)
        {
            return leafHashes[0];
        }

        var split = 1;
        while (split * 2 < leafHashes.Length)
        {
            split *= 2;
        }

        return MerkleHash.Node(ReferenceRoot(leafHashes[..split]), ReferenceRoot(leafHashes[split..]));
    }
}
