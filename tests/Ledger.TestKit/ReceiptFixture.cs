using System.Security.Cryptography;
using Ledger.Sdk;
using Ledger.Sdk.Merkle;
using Ledger.Storage;

namespace Ledger.TestKit;

/// <summary>
/// A small consortium with deterministic keys and a tree of anchored leaves built with the node's
/// own <see cref="TileTree"/>, from which receipts are produced exactly as the node produces them.
/// </summary>
public sealed class ReceiptFixture
{
    public const string Origin = "ledger.test/badges";

    public ReceiptFixture(int memberCount = 3, int quorum = 2, int leafCount = 13)
    {
        MemberKeys = [.. Enumerable.Range(0, memberCount).Select(i => KeyFromLabel($"member-{(char)('a' + i)}"))];
        IssuerKey = KeyFromLabel("issuer-one");
        Consortium = new Consortium(
            Origin,
            quorum,
            [.. MemberKeys.Select(k => new ConsortiumMember(k.Name, k.Verifier, null))],
            [new ConsortiumIssuer(IssuerKey.Name, IssuerKey.Verifier, "Issuer One")]);
        Leaves = [.. Enumerable.Range(0, leafCount).Select(i =>
            new Leaf(LeafKind.Anchor, 1_790_000_000_000UL + (ulong)i, IssuerKey.Name, SHA256.HashData(BitConverter.GetBytes(i))))];
        Store = new InMemoryKeyValueStore();
        Tree = new TileTree(Store);
        using var batch = Store.CreateBatch();
        var hashes = new byte[Leaves.Count * MerkleHash.Size];
        for (var i = 0; i < Leaves.Count; i++)
        {
            MerkleHash.Leaf(Leaves[i].Encode(), hashes.AsSpan(i * MerkleHash.Size, MerkleHash.Size));
        }

        Tree.Append(batch, hashes);
        Store.Write(batch, sync: false);
    }

    public IReadOnlyList<SignerKey> MemberKeys { get; }

    public SignerKey IssuerKey { get; }

    public Consortium Consortium { get; }

    public IReadOnlyList<Leaf> Leaves { get; }

    public InMemoryKeyValueStore Store { get; }

    public TileTree Tree { get; }

    /// <summary>A key derived from a label, the same in every run.</summary>
    public static SignerKey KeyFromLabel(string name) => SignerKey.FromSeed(name, SHA256.HashData(System.Text.Encoding.UTF8.GetBytes("seed:" + name)));

    /// <summary>The checkpoint of the tree at <paramref name="size"/>, signed by the given members (by default the first quorum of them).</summary>
    public string SignedCheckpoint(ulong? size = null, IEnumerable<SignerKey>? signers = null, string origin = Origin)
    {
        var treeSize = size ?? Tree.Size;
        var checkpoint = new Checkpoint(origin, treeSize, Tree.RootAt(treeSize));
        return SignedNote.Sign(checkpoint.Body(), signers ?? MemberKeys.Take(Consortium.Quorum)).ToText();
    }

    /// <summary>The receipt of leaf <paramref name="index"/> under the signed checkpoint given (or a fresh one).</summary>
    public Receipt ReceiptFor(ulong index, string? signedCheckpoint = null, ulong? size = null)
    {
        var treeSize = size ?? Tree.Size;
        return new Receipt(Leaves[(int)index].Encode(), index, Tree.InclusionProof(index, treeSize), signedCheckpoint ?? SignedCheckpoint(treeSize));
    }
}
