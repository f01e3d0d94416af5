using System.Runtime.CompilerServices;
using Ledger.Node.Sequencing;

namespace Ledger.Node.Tests;

public sealed class BatcherTests
{
    private sealed class RecordingSequencer : ISequencer
    {
        public List<Batch> Proposed { get; } = [];

        public ulong RecoveredCommitIndex => 0;

        public ValueTask<Task> ProposeAsync(byte[] batchBytes, object? tag, CancellationToken cancellationToken)
        {
            Proposed.Add(BatchCodec.Decode(batchBytes));
            foreach (var pending in (PendingAnchor[])tag!)
            {
                pending.Completion.TrySetResult(new EntryOutcome([], [], 0));
            }

            return ValueTask.FromResult(Task.CompletedTask);
        }

        public void Compact(ulong durableAppliedIndex)
        {
        }

        public async IAsyncEnumerable<CommittedEntry> ReadCommittedAsync([EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await Task.CompletedTask;
            yield break;
        }
    }

    private static PendingAnchor Pending(int digests) =>
        new(new AnchorEntry("issuer", 1, new byte[16], Enumerable.Range(0, digests).Select(_ => new byte[32]).ToArray()));

    [Fact]
    public void A_full_queue_refuses_and_frees_nothing_it_did_not_take()
    {
        var batcher = new Batcher(new BatcherLimits(QueueDigestsMax: 10, BatchDigestsMax: 5, BatchLingerMs: 0), new RecordingSequencer(), () => 100, 0);
        Assert.True(batcher.TryEnqueue(Pending(6)));
        Assert.True(batcher.TryEnqueue(Pending(4)));
        Assert.False(batcher.TryEnqueue(Pending(1)));
        Assert.Equal(10, batcher.QueuedDigests);
    }

    [Fact]
    public async Task Batches_are_cut_by_size_without_splitting_a_request_and_timestamps_never_decrease()
    {
        var sequencer = new RecordingSequencer();
        var clock = new Queue<ulong>([500, 400, 600]);
        var batcher = new Batcher(new BatcherLimits(100, 5, 0), sequencer, () => clock.Dequeue(), 450);
        var pendings = new[] { Pending(3), Pending(2), Pending(4), Pending(1) };
        foreach (var pending in pendings)
        {
            Assert.True(batcher.TryEnqueue(pending));
        }

        using var stop = new CancellationTokenSource();
        var run = batcher.RunAsync(stop.Token);
        await Task.WhenAll(pendings.Select(p => p.Completion.Task)).WaitAsync(TimeSpan.FromSeconds(10));
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);

        Assert.Equal([5, 5], sequencer.Proposed.Select(batch => batch.DigestCount));
        Assert.Equal([500UL, 500UL], sequencer.Proposed.Select(batch => batch.TimestampMs));
        Assert.Equal(0, batcher.QueuedDigests);
    }
}
