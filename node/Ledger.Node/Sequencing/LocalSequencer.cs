using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Ledger.Node.State;
using Ledger.Sdk;
using Ledger.Storage;

namespace Ledger.Node.Sequencing;

/// <summary>
/// The single-node sequencer: each proposed batch is written to the local log (<c>'b' index</c>,
/// its own RocksDB store so that its fsyncs never wait for apply's writes or the other way round)
/// with fsync, then handed to apply through a bounded channel (<c>inFlightBatchesMax</c>), so that
/// the next batch can be made durable while the previous one is applied. Batches are dropped
/// from the log once the state holds them durably; on restart, those above the state's applied
/// position are replayed.
/// </summary>
internal sealed class LocalSequencer : ISequencer, IDisposable
{
    private readonly IKeyValueStore _store;
    private readonly Channel<CommittedEntry> _committed;
    private readonly SemaphoreSlim _appendLock = new(1, 1);
    private ulong _lastIndex;
    private ulong _truncatedIndex;

    public LocalSequencer(IKeyValueStore store, ulong appliedIndex, int inFlightBatchesMax)
    {
        _store = store;
        _committed = Channel.CreateBounded<CommittedEntry>(new BoundedChannelOptions(inFlightBatchesMax)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _lastIndex = appliedIndex;
        Unapplied = ReadUnapplied(appliedIndex);
        if (Unapplied.Count > 0)
        {
            _lastIndex = Unapplied[^1].Index;
        }
    }

    /// <summary>Log entries that were durable but not applied when the node stopped, in order.</summary>
    public IReadOnlyList<CommittedEntry> Unapplied { get; }

    public ulong RecoveredCommitIndex => Unapplied.Count > 0 ? Unapplied[^1].Index : _lastIndex;

    public void Compact(ulong durableAppliedIndex) => Truncate(durableAppliedIndex);

    /// <summary>Logs the batch with fsync and queues it for apply: committed once placed.</summary>
    public async ValueTask<Task> ProposeAsync(byte[] batchBytes, object? tag, CancellationToken cancellationToken)
    {
        await AppendAsync(batchBytes, tag, cancellationToken);
        return Task.CompletedTask;
    }

    /// <summary>Appends with fsync and queues for apply; returns the batch's index.</summary>
    public async ValueTask<ulong> AppendAsync(byte[] batchBytes, object? tag, CancellationToken cancellationToken)
    {
        await _appendLock.WaitAsync(cancellationToken);
        try
        {
            var index = _lastIndex + 1;
            using var write = _store.CreateBatch();
            write.Put(StateKeys.BatchLogKey(index), batchBytes);
            _store.Write(write, sync: true);
            _lastIndex = index;
            await _committed.Writer.WriteAsync(new CommittedEntry(index, batchBytes, tag), cancellationToken);
            return index;
        }
        finally
        {
            _appendLock.Release();
        }
    }

    public async IAsyncEnumerable<CommittedEntry> ReadCommittedAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var entry in Unapplied)
        {
            yield return entry;
        }

        await foreach (var entry in _committed.Reader.ReadAllAsync(cancellationToken))
        {
            yield return entry;
        }
    }

    public void Dispose() => _appendLock.Dispose();

    /// <summary>Drops log entries up to <paramref name="durableAppliedIndex"/>, whose effects the state holds durably.</summary>
    public void Truncate(ulong durableAppliedIndex)
    {
        using var write = _store.CreateBatch();
        for (var index = _truncatedIndex + 1; index <= durableAppliedIndex; index++)
        {
            write.Delete(StateKeys.BatchLogKey(index));
        }

        _store.Write(write, sync: false);
        _truncatedIndex = Math.Max(_truncatedIndex, durableAppliedIndex);
    }

    private List<CommittedEntry> ReadUnapplied(ulong appliedIndex)
    {
        var entries = new List<CommittedEntry>();
        // Everything below the first logged batch is gone already; with an empty log, everything up
        // to the applied position is. Truncation starts there, never from index 1.
        _truncatedIndex = appliedIndex;
        var first = true;
        foreach (var (key, value) in StateKeys.ScanPrefix(_store, [StateKeys.BatchLog]))
        {
            var index = StateKeys.ParseIndexKey(key);
            if (first)
            {
                _truncatedIndex = Math.Min(appliedIndex, index - 1);
                first = false;
            }

            if (index <= appliedIndex)
            {
                continue;
            }

            Invariant.Check(index == appliedIndex + 1 + (ulong)entries.Count);
            entries.Add(new CommittedEntry(index, value, null));
        }

        return entries;
    }
}
