using System.Diagnostics;
using Ledger.Node.Hosting;
using System.Threading.Channels;
using Ledger.Sdk;

namespace Ledger.Node.Sequencing;

/// <summary>Limits of the batcher, all named and bounded.</summary>
internal sealed record BatcherLimits(int QueueDigestsMax, int BatchDigestsMax, int BatchLingerMs);

/// <summary>
/// Collects admitted entries and cuts them into batches by size (<see cref="BatcherLimits.BatchDigestsMax"/>)
/// and by time (group commit: while one batch is being made durable, the next one fills; an
/// optional linger waits for more). The cut assigns the batch timestamp, never below the previous one
/// nor below the applied state's (a new leader continues where the last one stopped). At most
/// <c>inFlightBatchesMax</c> proposed batches wait for commit at once.
/// </summary>
internal sealed class Batcher
{
    private readonly Channel<PendingAnchor> _queue = Channel.CreateUnbounded<PendingAnchor>(
        new UnboundedChannelOptions { SingleReader = true });
    private readonly BatcherLimits _limits;
    private readonly ISequencer _sequencer;
    private readonly Func<ulong> _nowMs;
    private readonly Func<ulong> _timestampFloorMs;
    private readonly Channel<bool> _inFlight;
    private PendingAnchor? _carried;
    private int _queuedDigests;

    public Batcher(BatcherLimits limits, ISequencer sequencer, Func<ulong> nowMs, ulong lastTimestampMs, Func<ulong>? timestampFloorMs = null, int inFlightBatchesMax = 8)
    {
        Invariant.Check(limits.BatchDigestsMax > 0 && limits.QueueDigestsMax >= limits.BatchDigestsMax && inFlightBatchesMax > 0);
        _limits = limits;
        _sequencer = sequencer;
        _nowMs = nowMs;
        _timestampFloorMs = timestampFloorMs ?? (() => 0);
        _inFlight = Channel.CreateBounded<bool>(inFlightBatchesMax);
        LastTimestampMs = lastTimestampMs;
    }

    public ulong LastTimestampMs { get; private set; }

    public PipelineStats Stats { get; } = new();

    /// <summary>Told of every committed batch: its digest count and the time from proposing it to its commit.</summary>
    public Action<int, TimeSpan>? Committed { get; set; }

    public int QueuedDigests => Volatile.Read(ref _queuedDigests);

    /// <summary>Queues an entry; false when the queue is full (the caller answers RESOURCE_EXHAUSTED).</summary>
    public bool TryEnqueue(PendingAnchor pending)
    {
        var count = pending.Entry.Digests.Count;
        if (Interlocked.Add(ref _queuedDigests, count) > _limits.QueueDigestsMax)
        {
            Interlocked.Add(ref _queuedDigests, -count);
            return false;
        }

        var written = _queue.Writer.TryWrite(pending);
        Invariant.Check(written);
        return true;
    }

    /// <summary>Cuts and proposes batches until cancelled; failures are reported to the entries' waiters.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            if (_carried is null && !await _queue.Reader.WaitToReadAsync(cancellationToken))
            {
                return;
            }

            if (_limits.BatchLingerMs > 0)
            {
                await Task.Delay(_limits.BatchLingerMs, cancellationToken);
            }

            await _inFlight.Writer.WriteAsync(true, cancellationToken);
            var pendings = Cut();
            var timestampMs = Math.Max(Math.Max(LastTimestampMs, _nowMs()), _timestampFloorMs());
            LastTimestampMs = timestampMs;
            var batch = new Batch(timestampMs, pendings.Select(pending => pending.Entry).ToArray());
            try
            {
                var started = Stopwatch.GetTimestamp();
                var committed = await _sequencer.ProposeAsync(BatchCodec.Encode(batch), pendings, cancellationToken);
                Stats.Proposed(batch.DigestCount, Stopwatch.GetTimestamp() - started);
                _ = committed.ContinueWith(
                    (task, state) => Settle(task, ((PendingAnchor[], long, int))state!),
                    (pendings, started, batch.DigestCount),
                    CancellationToken.None,
                    TaskContinuationOptions.ExecuteSynchronously,
                    TaskScheduler.Default);
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                _inFlight.Reader.TryRead(out _);
                Fail(pendings, exception);
            }
        }
    }

    private void Settle(Task committed, (PendingAnchor[] Pendings, long Started, int Digests) proposal)
    {
        _inFlight.Reader.TryRead(out _);
        if (!committed.IsCompletedSuccessfully)
        {
            Fail(proposal.Pendings, committed.Exception?.InnerException ?? new OperationCanceledException("the proposal was cancelled"));
            return;
        }

        Committed?.Invoke(proposal.Digests, Stopwatch.GetElapsedTime(proposal.Started));
    }

    private static void Fail(PendingAnchor[] pendings, Exception exception)
    {
        foreach (var pending in pendings)
        {
            pending.Completion.TrySetException(exception);
        }
    }

    private PendingAnchor[] Cut()
    {
        var pendings = new List<PendingAnchor>();
        var digests = 0;
        while (true)
        {
            var next = _carried;
            _carried = null;
            if (next is null && !_queue.Reader.TryRead(out next))
            {
                break;
            }

            if (digests > 0 && digests + next.Entry.Digests.Count > _limits.BatchDigestsMax)
            {
                _carried = next;
                break;
            }

            pendings.Add(next);
            digests += next.Entry.Digests.Count;
            Interlocked.Add(ref _queuedDigests, -next.Entry.Digests.Count);
        }

        Invariant.Check(pendings.Count > 0);
        return [.. pendings];
    }
}
