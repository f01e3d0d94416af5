using Ledger.TestKit;
using Ledger.Node.Tests.Support;
using Ledger.Sdk;
using Ledger.Sdk.Client;
using Ledger.Sdk.Merkle;
using Ledger.Storage;

namespace Ledger.Node.Tests;

public sealed class TrustedStateStoreTests : IDisposable
{
    private const string Origin = "test.ledger/trust";
    private readonly TempDirectory _dir = new();
    private readonly SignerKey _member = SignerKey.Generate("member-a");
    private readonly CheckpointVerifier _verifier;

    public TrustedStateStoreTests()
    {
        _verifier = new CheckpointVerifier(new Consortium(Origin, 1, [new ConsortiumMember("member-a", _member.Verifier, null)], []));
    }

    public void Dispose() => _dir.Dispose();

    /// <summary>A tree over leaves "leaf-0".."leaf-(n-1)", where <paramref name="forkAt"/> (if any) holds different bytes.</summary>
    private static TileTree Tree(int size, int forkAt = -1)
    {
        var store = new InMemoryKeyValueStore();
        var tree = new TileTree(store);
        using var batch = store.CreateBatch();
        var hashes = new List<byte>();
        for (var i = 0; i < size; i++)
        {
            hashes.AddRange(MerkleHash.Leaf(System.Text.Encoding.ASCII.GetBytes(i == forkAt ? $"forged-{i}" : $"leaf-{i}")));
        }

        tree.Append(batch, hashes.ToArray());
        store.Write(batch, sync: false);
        return tree;
    }

    private string Sign(TileTree tree, ulong size) =>
        SignedNote.Sign(new Checkpoint(Origin, size, tree.RootAt(size)).Body(), [_member]).ToText();

    private static Func<ulong, ulong, CancellationToken, Task<IReadOnlyList<byte[]>>> ProofsFrom(TileTree tree) =>
        (oldSize, newSize, _) => Task.FromResult<IReadOnlyList<byte[]>>(tree.ConsistencyProof(oldSize, newSize));

    [Fact]
    public async Task A_consistent_newer_checkpoint_advances_the_trusted_state_and_survives_reopening()
    {
        var tree = Tree(20);
        var path = Path.Combine(_dir.Path, "trust.db");
        using (var store = new TrustedStateStore(path))
        {
            Assert.Equal(TrustDecision.TrustedFirst, (await store.OfferAsync(Sign(tree, 7), _verifier, ProofsFrom(tree))).Decision);
            Assert.Equal(TrustDecision.Advanced, (await store.OfferAsync(Sign(tree, 20), _verifier, ProofsFrom(tree))).Decision);
            Assert.Equal(TrustDecision.Unchanged, (await store.OfferAsync(Sign(tree, 9), _verifier, ProofsFrom(tree))).Decision);
        }

        using var reopened = new TrustedStateStore(path);
        Assert.Equal(Sign(tree, 20), reopened.GetTrustedText(Origin));
    }

    [Fact]
    public async Task A_checkpoint_of_a_rewritten_history_is_rejected_and_the_trusted_one_kept()
    {
        var honest = Tree(20);
        var forked = Tree(30, forkAt: 3);
        using var store = new TrustedStateStore(Path.Combine(_dir.Path, "trust.db"));
        await store.OfferAsync(Sign(honest, 10), _verifier, ProofsFrom(honest));

        var update = await store.OfferAsync(Sign(forked, 30), _verifier, ProofsFrom(forked));
        Assert.Equal(TrustDecision.Rejected, update.Decision);
        Assert.Contains("not consistent", update.Reason, StringComparison.Ordinal);
        Assert.Equal(Sign(honest, 10), store.GetTrustedText(Origin));

        var sameSize = await store.OfferAsync(Sign(forked, 10), _verifier, ProofsFrom(forked));
        Assert.Equal(TrustDecision.Rejected, sameSize.Decision);
        Assert.Equal(Sign(honest, 10), store.GetTrustedText(Origin));
    }

    [Fact]
    public async Task A_checkpoint_not_signed_by_a_member_is_rejected_before_any_proof_is_asked()
    {
        var tree = Tree(5);
        var stranger = SignerKey.Generate("member-a");
        var forged = SignedNote.Sign(new Checkpoint(Origin, 5, tree.RootAt(5)).Body(), [stranger]).ToText();
        using var store = new TrustedStateStore(Path.Combine(_dir.Path, "trust.db"));
        var asked = false;
        var update = await store.OfferAsync(forged, _verifier, (_, _, _) =>
        {
            asked = true;
            return Task.FromResult<IReadOnlyList<byte[]>>([]);
        });
        Assert.Equal(TrustDecision.Rejected, update.Decision);
        Assert.False(asked);
        Assert.Null(store.GetTrustedText(Origin));
    }
}
