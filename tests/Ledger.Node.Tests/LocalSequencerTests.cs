using Ledger.Node.Sequencing;
using Ledger.Node.State;
using Ledger.Storage;

namespace Ledger.Node.Tests;

/// <summary>The batch log across a crash: durable batches that were not applied are replayed, in order, exactly once.</summary>
public sealed class LocalSequencerTests
{
    private static byte[] Encoded(int seed) =>
        BatchCodec.Encode(new Batch(100 + (ulong)seed, [new AnchorEntry("alpha", 1, BitConverter.GetBytes((long)seed).Concat(new byte[8]).ToArray(), [Enumerable.Repeat((byte)seed, 32).ToArray()])]));

    [Fact]
    public async Task Batches_durable_but_not_applied_are_replayed_after_a_crash_and_dropped_once_the_state_is_durable()
    {
        using var logStore = new InMemoryKeyValueStore();
        using var stateStore = new InMemoryKeyValueStore();
        var beforeCrash = new LocalSequencer(logStore, appliedIndex: 0, inFlightBatchesMax: 8);
        for (var i = 1; i <= 3; i++)
        {
            Assert.Equal((ulong)i, await beforeCrash.AppendAsync(Encoded(i), tag: null, CancellationToken.None));
        }

        var state = new LedgerState(stateStore);
        state.Apply(1, BatchCodec.Decode(Encoded(1)));

        // The process dies here: batch 1 is applied, 2 and 3 are only in the log.
        using var afterCrash = new LocalSequencer(logStore, state.Applied.BatchIndex, inFlightBatchesMax: 8);
        Assert.Equal([2UL, 3UL], afterCrash.Unapplied.Select(entry => entry.Index));
        Assert.All(afterCrash.Unapplied, entry => Assert.Null(entry.Tag));
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var replayed = new List<CommittedEntry>();
        await foreach (var entry in afterCrash.ReadCommittedAsync(cancel.Token))
        {
            replayed.Add(entry);
            state.Apply(entry.Index, BatchCodec.Decode(entry.Bytes));
            if (replayed.Count == 2)
            {
                break;
            }
        }

        Assert.Equal(3UL, state.TreeSize);
        Assert.Equal(4UL, await afterCrash.AppendAsync(Encoded(4), tag: null, CancellationToken.None));

        afterCrash.Truncate(state.MakeDurable().BatchIndex);
        beforeCrash.Dispose();
        using var later = new LocalSequencer(logStore, state.Applied.BatchIndex, inFlightBatchesMax: 8);
        Assert.Equal([4UL], later.Unapplied.Select(entry => entry.Index));
    }

    [Fact]
    public async Task Batches_applied_before_a_restart_but_not_yet_dropped_are_dropped_after_it()
    {
        using var logStore = new InMemoryKeyValueStore();
        using (var first = new LocalSequencer(logStore, appliedIndex: 0, inFlightBatchesMax: 8))
        {
            for (var i = 1; i <= 3; i++)
            {
                await first.AppendAsync(Encoded(i), tag: null, CancellationToken.None);
            }
        }

        // Restart with all three applied (a clean stop makes the state durable without truncating the log).
        using var restarted = new LocalSequencer(logStore, appliedIndex: 3, inFlightBatchesMax: 8);
        Assert.Empty(restarted.Unapplied);
        restarted.Truncate(3);
        Assert.Empty(StateKeys.ScanPrefix(logStore, [StateKeys.BatchLog]));
        Assert.Equal(4UL, await restarted.AppendAsync(Encoded(4), tag: null, CancellationToken.None));
    }
}
