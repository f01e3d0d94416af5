using Ledger.Node.Replicated;
using Ledger.Node.Sequencing;
using Ledger.Node.State;
using Ledger.Sdk;
using Ledger.Storage;

namespace Ledger.Node.Tests;

/// <summary>A member cosigns only checkpoints of its own applied tree, with leaf times its clock accepts.</summary>
public sealed class StateCosignerTests
{
    private const ulong SkewMs = 30_000;
    private static readonly SignerKey MemberKey = SignerKey.Generate("member-b");

    private static AnchorEntry Entry(int nonce, int digest) =>
        new("issuer", (ulong)nonce, BitConverter.GetBytes(nonce).Concat(new byte[12]).ToArray(), [Enumerable.Repeat((byte)digest, 32).ToArray()]);

    private static (LedgerState State, InMemoryKeyValueStore Store) StateWithLeaves(ulong timestampMs, int leaves)
    {
        var store = new InMemoryKeyValueStore();
        var state = new LedgerState(store);
        for (var i = 1; i <= leaves; i++)
        {
            state.Apply((ulong)i, new Batch(timestampMs, [Entry(i, i)]));
        }

        return (state, store);
    }

    private static StateCosigner Cosigner(LedgerState state, ulong nowMs) =>
        new(state, MemberKey, () => nowMs, SkewMs, (_, cancellationToken) => Task.Delay(Timeout.Infinite, cancellationToken));

    [Fact]
    public async Task Signs_its_own_tree_at_any_size_it_has_applied()
    {
        var (state, store) = StateWithLeaves(1_000_000, 3);
        using (store)
        {
            var checkpoint = new Checkpoint("test.ledger/a", 2, state.RootAt(2));
            var outcome = await Cosigner(state, 1_000_000).CosignAsync(checkpoint, CancellationToken.None);
            Assert.NotNull(outcome.Signature);
            Assert.True(MemberKey.Verifier.Verify(System.Text.Encoding.UTF8.GetBytes(checkpoint.Body()), outcome.Signature.Signature));
        }
    }

    [Fact]
    public async Task Refuses_a_root_that_is_not_its_tree()
    {
        var (state, store) = StateWithLeaves(1_000_000, 3);
        using (store)
        {
            var outcome = await Cosigner(state, 1_000_000).CosignAsync(new Checkpoint("test.ledger/a", 3, new byte[32]), CancellationToken.None);
            Assert.Null(outcome.Signature);
            Assert.Equal("my tree at size 3 has another root", outcome.Refusal);
        }
    }

    [Fact]
    public async Task Refuses_a_tree_it_has_not_applied_after_waiting_for_it()
    {
        var (state, store) = StateWithLeaves(1_000_000, 3);
        using (store)
        {
            var outcome = await Cosigner(state, 1_000_000).CosignAsync(new Checkpoint("test.ledger/a", 4, new byte[32]), CancellationToken.None);
            Assert.Null(outcome.Signature);
            Assert.Equal("my tree has 3 leaves, not yet 4", outcome.Refusal);
        }
    }

    [Fact]
    public async Task Refuses_leaves_stamped_further_ahead_of_its_clock_than_the_skew()
    {
        var (state, store) = StateWithLeaves(1_000_000, 2);
        using (store)
        {
            var checkpoint = new Checkpoint("test.ledger/a", 2, state.RootAt(2));
            var behind = await Cosigner(state, 1_000_000 - SkewMs - 1).CosignAsync(checkpoint, CancellationToken.None);
            Assert.Null(behind.Signature);
            Assert.Contains("ahead of my clock", behind.Refusal, StringComparison.Ordinal);

            var withinSkew = await Cosigner(state, 1_000_000 - SkewMs).CosignAsync(checkpoint, CancellationToken.None);
            Assert.NotNull(withinSkew.Signature);
        }
    }
}
