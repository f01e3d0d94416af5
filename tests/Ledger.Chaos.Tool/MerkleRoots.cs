using Ledger.Sdk.Merkle;

namespace Ledger.Chaos.Tool;

/// <summary>
/// RFC 9162 tree heads of a log computed from its leaves, one leaf at a time: the perfect subtrees
/// ("peaks", at most 64) are kept, and the root of the first n leaves is the peaks folded from the right.
/// </summary>
internal sealed class MerkleRoots
{
    private const int PeaksMax = 64;

    private readonly List<(int Height, byte[] Hash)> _peaks = new(PeaksMax);

    public ulong Size { get; private set; }

    /// <summary>Roots of <paramref name="leaves"/> at each size in <paramref name="sizes"/> (sizes beyond the log are left out).</summary>
    public static Dictionary<ulong, byte[]> RootsAt(IReadOnlyList<byte[]> leaves, IEnumerable<ulong> sizes)
    {
        var wanted = new SortedSet<ulong>(sizes.Where(size => size <= (ulong)leaves.Count));
        var roots = new Dictionary<ulong, byte[]>();
        var tree = new MerkleRoots();
        foreach (var size in wanted)
        {
            while (tree.Size < size)
            {
                tree.Append(MerkleHash.Leaf(leaves[(int)tree.Size]));
            }

            roots[size] = tree.Root();
        }

        return roots;
    }

    public void Append(byte[] leafHash)
    {
        _peaks.Add((0, leafHash));
        while (_peaks.Count >= 2 && _peaks[^1].Height == _peaks[^2].Height)
        {
            var right = _peaks[^1];
            var left = _peaks[^2];
            _peaks.RemoveRange(_peaks.Count - 2, 2);
            _peaks.Add((left.Height + 1, MerkleHash.Node(left.Hash, right.Hash)));
        }

        Size++;
    }

    public byte[] Root()
    {
        if (_peaks.Count == 0)
        {
            return MerkleHash.EmptyRoot();
        }

        var root = _peaks[^1].Hash;
        for (var i = _peaks.Count - 2; i >= 0; i--)
        {
            root = MerkleHash.Node(_peaks[i].Hash, root);
        }

        return root;
    }
}
