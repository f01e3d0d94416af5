using System.Diagnostics;
using System.Text;
using Ledger.Storage;

namespace Ledger.Node.Hosting;

/// <summary>
/// What the node does when a store's checksums show damage: it never serves from damaged data. The
/// first damage found is written to a mark file in the data directory (which store, what RocksDB
/// said), logged (event 5), and the node stops (<see cref="Found"/>; the process exits with 3). At the
/// next start, <see cref="RepairAtStart"/> reads the mark: a consortium member deletes its damaged state
/// store and rebuilds it by applying its Raft log again (the log is kept whole); damage in the
/// Raft log itself, or on a one-member ledger (whose batch log is truncated once applied), is for the
/// operator, and the node refuses to start with a message saying what to do.
/// </summary>
internal sealed partial class StoreDamage(string dataDir, ILogger logger)
{
    /// <summary>Name of the mark file in the data directory.</summary>
    public const string MarkName = "DAMAGED";

    /// <summary>The applied state (leaves, tiles, digest index): rebuilt from the Raft log in a consortium.</summary>
    public const string StateStore = "state";

    private readonly TaskCompletionSource _found = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _reported;
    private string? _store;

    /// <summary>Faults with the first damage found; the node must stop.</summary>
    public Task Found => _found.Task;

    /// <summary>What the next start does about the damage found (for the message the process exits with).</summary>
    public string NextStart(bool inConsortium) => (_store, inConsortium) switch
    {
        (StateStore, true) => "the next start deletes the damaged state store and rebuilds it from the Raft log",
        (_, true) => "its next start refuses: start the member with an empty data directory to rebuild it from the other members",
        _ => "its next start refuses: restore the data directory from a backup",
    };

    /// <summary>The handler a store named <paramref name="store"/> (its folder under the data directory) reports damage to.</summary>
    public Action<StorageCorruptException> HandlerFor(string store) => exception => Report(store, exception);

    /// <summary>
    /// Run before any store is opened. Without a mark, nothing to do. With one: a consortium member's
    /// damaged state store is deleted (to be rebuilt from the Raft log); anything else throws
    /// <see cref="NodeStartException"/> with what the operator must do.
    /// </summary>
    public static void RepairAtStart(string dataDir, bool inConsortium, ILogger logger)
    {
        var mark = Path.Combine(dataDir, MarkName);
        if (!File.Exists(mark))
        {
            return;
        }

        var lines = File.ReadAllText(mark, Encoding.UTF8).Split('\n', 2);
        var store = lines[0].Trim();
        var detail = lines.Length > 1 ? lines[1].Trim() : "(no detail)";
        if (store == StateStore && inConsortium)
        {
            // Deleted rather than kept: a copy would need as much room again on the member's disk. What
            // was damaged is in the mark's detail and in the log (event 5).
            var damaged = Path.Combine(dataDir, StateStore);
            if (Directory.Exists(damaged))
            {
                Directory.Delete(damaged, recursive: true);
            }

            File.Delete(mark);
            LogRebuilding(logger, damaged, detail);
            return;
        }

        var remedy = inConsortium
            ? $"move {dataDir} aside and start the member with an empty data directory: it rebuilds everything from the other members"
            : $"restore {dataDir} from a backup (a one-member ledger has no other copy to rebuild from)";
        throw new NodeStartException($"the {store} store in {dataDir} was found damaged ({detail}); {remedy}");
    }

    private void Report(string store, StorageCorruptException exception)
    {
        if (Interlocked.Exchange(ref _reported, 1) != 0)
        {
            return;
        }

        _store = store;
        LogDamaged(store, exception.Message);
        try
        {
            // Written whole then renamed, and synced: the next start must read the mark or none.
            var mark = Path.Combine(dataDir, MarkName);
            var written = mark + ".tmp";
            using (var stream = new FileStream(written, FileMode.Create, FileAccess.Write))
            {
                stream.Write(Encoding.UTF8.GetBytes(store + "\n" + exception.Message + "\n"));
                stream.Flush(flushToDisk: true);
            }

            File.Move(written, mark, overwrite: true);
        }
        catch (Exception markFailed) when (markFailed is IOException or UnauthorizedAccessException)
        {
            // The stop still happens; the next start then meets the damage again and reports it again.
            LogMarkFailed(markFailed.Message);
        }

        _found.TrySetException(exception);
    }

    /// <summary>Reads every store's checksums now (see <see cref="RocksDbKeyValueStore.VerifyChecksums"/>); damage is reported through the stores' handlers.</summary>
    public async Task ScrubAsync(IReadOnlyList<RocksDbKeyValueStore> stores, TimeSpan interval, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            var started = Stopwatch.GetTimestamp();
            foreach (var store in stores)
            {
                try
                {
                    // Reads whole files: run it off the thread pool's hot path.
                    await Task.Factory.StartNew(store.VerifyChecksums, cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
                }
                catch (StorageCorruptException)
                {
                    return; // reported; the node stops
                }
                catch (RocksDbSharp.RocksDbException unreadable)
                {
                    // Not damage (e.g. too many open files): the next scrub tries again.
                    LogScrubFailed(unreadable.Message);
                }
            }

            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            LogScrubbed(stores.Count, seconds);
            await Task.Delay(interval, cancellationToken);
        }
    }

    [LoggerMessage(EventId = 5, Level = LogLevel.Critical,
        Message = "the {Store} store is damaged: {Detail}. Nothing is served from it: the node stops, and its next start rebuilds or refuses (see the mark file DAMAGED)")]
    private partial void LogDamaged(string store, string detail);

    [LoggerMessage(EventId = 6, Level = LogLevel.Error, Message = "could not write the damage mark: {Detail}")]
    private partial void LogMarkFailed(string detail);

    [LoggerMessage(EventId = 7, Level = LogLevel.Warning,
        Message = "the state store {Damaged} was found damaged ({Detail}); it is deleted and rebuilt from the Raft log")]
    private static partial void LogRebuilding(ILogger logger, string damaged, string detail);

    [LoggerMessage(EventId = 8, Level = LogLevel.Information, Message = "checksums of {Stores} stores verified in {Seconds:F1} s")]
    private partial void LogScrubbed(int stores, double seconds);

    [LoggerMessage(EventId = 10, Level = LogLevel.Warning, Message = "a checksum scrub could not read a store ({Detail}); the next scrub tries again")]
    private partial void LogScrubFailed(string detail);
}
