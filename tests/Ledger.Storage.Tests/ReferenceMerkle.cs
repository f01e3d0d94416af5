using Ledger.Sdk.Merkle;

namespace Ledger.Storage.Tests;

/// <summary>
/// RFC 6962 §2.1 transcribed literally (MTH, PATH, PROOF/SUBPROOF), recursive and slow: the oracle
/// the tiled tree is checked against, never used outside tests. Inputs are leaf hashes.
/// </summary>
internal static class ReferenceMerkle
{
    public static byte[] Root(ReadOnlySpan<byte[]> leafHashes)
    {
        if (leafHashes.Length == 0)
        {
            return MerkleHash.EmptyRoot();
        }

        if (leafHashes.Length == 1)
        {
            return leafHashes[0];
        }

        var split = LargestPowerOfTwoBelow(leafHashes.Length);
        return MerkleHash.Node(Root(leafHashes[..split]), Root(leafHashes[split..]));
    }

    /// <summary>PATH(m, D[n]).</summary>
    public static List<byte[]> Path(int index, ReadOnlySpan<byte[]> leafHashes)
    {
        if (leafHashes.Length == 1)
        {
            return [];
        }

        var split = LargestPowerOfTwoBelow(leafHashes.Length);
        if (index < split)
        {
            var path = Path(index, leafHashes[..split]);
            path.Add(Root(leafHashes[split..]));
            return path;
        }

        var right = Path(index - split, leafHashes[split..]);
        right.Add(Root(leafHashes[..split]));
        return right;
    }

    /// <summary>PROOF(m, D[n]) = SUBPROOF(m, D[n], true).</summary>
    public static List<byte[]> Consistency(int size1, ReadOnlySpan<byte[]> leafHashes) =>
        size1 == 0 ? [] : Subproof(size1, leafHashes, true);

    private static List<byte[]> Subproof(int size1, ReadOnlySpan<byte[]> leafHashes, bool startsComplete)
    {
        if (size1 == leafHashes.Length)
        {
            return startsComplete ? [] : [Root(leafHashes)];
        }

        var split = LargestPowerOfTwoBelow(leafHashes.Length);
        if (size1 <= split)
        {
            var proof = Subproof(size1, leafHashes[..split], startsComplete);
            proof.Add(Root(leafHashes[split..]));
            return proof;
        }

        var rightProof = Subproof(size1 - split, leafHashes[split..], false);
        rightProof.Add(Root(leafHashes[..split]));
        return rightProof;
    }

    private static int LargestPowerOfTwoBelow(int count)
    {
        var split = 1;
        while (split * 2 < count)
        {
            split *= 2;
        }

        return split;
    }
}
