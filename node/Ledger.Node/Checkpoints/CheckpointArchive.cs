using LiteDB;
using Ledger.Sdk;

namespace Ledger.Node.Checkpoints;

/// <summary>One archived checkpoint: the signed note text, keyed by tree size.</summary>
internal sealed class ArchivedCheckpoint
{
    /// <summary>Tree size; the document id (LiteDB keys are signed, sizes stay far below long.MaxValue).</summary>
    public long Id { get; set; }

    public string Text { get; set; } = "";

    public long SignedAtMs { get; set; }
}

/// <summary>
/// The node's archive of quorum-signed checkpoints (LiteDB, node-local). Keyed by tree size, so
/// the newest is the largest id and there is at most one checkpoint per size. LiteDB keeps no
/// checksums: <see cref="OpenChecked"/> checks what a start reads back.
/// <para>
/// A member under steady load publishes a checkpoint every <c>CheckpointIntervalMs</c> (20 a
/// second by default), which kept whole would grow the file by about a gigabyte a day. The archive
/// keeps every checkpoint signed in the last <see cref="RecentMs"/> and, before that, the first of
/// each UTC hour (<see cref="Prune"/>, run by <see cref="Save"/> at most every
/// <see cref="PruneIntervalMs"/>): a few megabytes a year.
/// </para>
/// </summary>
internal sealed class CheckpointArchive : IDisposable
{
    private const string CollectionName = "checkpoints";
    private readonly LiteDatabase _database;
    private readonly ILiteCollection<ArchivedCheckpoint> _checkpoints;
    private readonly Lock _lock = new();

    /// <summary>Every checkpoint signed this recently (before the newest saved) is kept.</summary>
    public const ulong RecentMs = 10 * 60 * 1000;

    /// <summary>Older checkpoints are thinned to the first of each period this long (a UTC hour).</summary>
    public const ulong HourMs = 60 * 60 * 1000;

    /// <summary>How often, in signing time, <see cref="Save"/> thins the archive.</summary>
    public const ulong PruneIntervalMs = 60 * 1000;

    /// <summary>At most this many checkpoints are examined by one <see cref="Prune"/> (an archive written before pruning existed is thinned over several).</summary>
    public const int PruneBatchMax = 20_000;

    // Checkpoints up to this id have been thinned already; the hour of the last one kept.
    private long _prunedThroughId = -1;
    private ulong? _lastKeptHour;
    private ulong _lastPruneMs;

    public CheckpointArchive(string path)
    {
        // LiteDB trims strings by default; a signed note ends with a newline that must be kept.
        var mapper = new BsonMapper { TrimWhitespace = false, EmptyStringToNull = false };
        // The id is the tree size, 0 included: LiteDB's default would take an id of 0 as unset and
        // number the document itself.
        mapper.Entity<ArchivedCheckpoint>().Id(checkpoint => checkpoint.Id, autoId: false);
        _database = new LiteDatabase(new ConnectionString { Filename = path, Connection = ConnectionType.Direct }, mapper);
        _checkpoints = _database.GetCollection<ArchivedCheckpoint>(CollectionName);
    }

    /// <summary>
    /// Opens the archive at <paramref name="path"/> and checks the checkpoint a start serves from it,
    /// the latest, as a client would (origin, a quorum of valid member signatures) and against the
    /// node's own tree: its size must be the size it is filed under and, when the tree is that large,
    /// its root the tree's root at that size (<paramref name="rootAt"/>). A file LiteDB cannot read
    /// or a latest checkpoint that fails is damage: the file and its log are deleted and the archive
    /// starts empty, so the node signs its tree afresh. <paramref name="onDiscarded"/> hears why.
    /// </summary>
    public static CheckpointArchive OpenChecked(
        string path, CheckpointVerifier verifier, ulong treeSize, Func<ulong, byte[]> rootAt, Action<string> onDiscarded)
    {
        var (archive, latest, unreadable) = TryOpen(path);

        // Outside TryOpen's catch: damage that the state store's reads meet is the state store's.
        var problem = unreadable ?? Problem(latest, verifier, treeSize, rootAt);
        if (problem is null)
        {
            return archive!;
        }

        try
        {
            archive?.Dispose();
        }
        catch (Exception exception) when (IsUnreadable(exception))
        {
            // A damaged file may fail to close as well; it is deleted next.
        }

        onDiscarded(problem);
        File.Delete(path);
        File.Delete(LogPath(path));
        return new CheckpointArchive(path);
    }

    /// <summary>Opens the file and reads its latest checkpoint; on damage, says what LiteDB could not read.</summary>
    private static (CheckpointArchive? Archive, ArchivedCheckpoint? Latest, string? Unreadable) TryOpen(string path)
    {
        CheckpointArchive? archive = null;
        try
        {
            archive = new CheckpointArchive(path);
            return (archive, archive.Latest(), null);
        }
        catch (Exception exception) when (IsUnreadable(exception))
        {
            return (archive, null, $"LiteDB could not read it ({exception.GetType().Name}: {exception.Message})");
        }
    }

    /// <summary>The write-ahead log LiteDB keeps beside a database file (name-log.ext).</summary>
    public static string LogPath(string path) =>
        Path.Combine(Path.GetDirectoryName(path) ?? "", Path.GetFileNameWithoutExtension(path) + "-log" + Path.GetExtension(path));

    private static string? Problem(ArchivedCheckpoint? latest, CheckpointVerifier verifier, ulong treeSize, Func<ulong, byte[]> rootAt)
    {
        if (latest is null)
        {
            return null;
        }

        var verification = verifier.Verify(latest.Text);
        if (!verification.IsValid)
        {
            return $"the checkpoint filed under size {latest.Id} does not verify: {verification.Reason}";
        }

        var checkpoint = verification.Checkpoint!;
        if (checkpoint.Size != (ulong)latest.Id)
        {
            return $"the checkpoint filed under size {latest.Id} is of size {checkpoint.Size}";
        }

        return checkpoint.Size <= treeSize && !rootAt(checkpoint.Size).AsSpan().SequenceEqual(checkpoint.Root)
            ? $"the checkpoint of size {checkpoint.Size} does not have this node's root at that size"
            : null;
    }

    /// <summary>
    /// What reading a damaged file throws (LiteDB's own errors and whatever its decoding of bad bytes
    /// raises); not a file the process may not open or that another process holds.
    /// </summary>
    private static bool IsUnreadable(Exception exception) =>
        exception is not (OutOfMemoryException or UnauthorizedAccessException)
        && (exception is not IOException || exception is EndOfStreamException);

    /// <summary>Files a checkpoint under its tree size (replacing one of that size), then thins the archive if it is time to.</summary>
    public void Save(ulong treeSize, string text, ulong signedAtMs)
    {
        Invariant.Check(treeSize <= long.MaxValue && signedAtMs <= long.MaxValue);
        lock (_lock)
        {
            _checkpoints.Upsert(new ArchivedCheckpoint { Id = (long)treeSize, Text = text, SignedAtMs = (long)signedAtMs });
            if (signedAtMs >= _lastPruneMs + PruneIntervalMs)
            {
                _lastPruneMs = signedAtMs;
                PruneLocked(signedAtMs);
            }
        }
    }

    /// <summary>
    /// Deletes the checkpoints signed more than <see cref="RecentMs"/> before <paramref name="nowMs"/>
    /// that are not the first (smallest tree size) of their UTC hour, walking up from the last
    /// checkpoint it examined before; it stops at the first recent one, and never deletes the
    /// newest. Returns how many it deleted.
    /// </summary>
    public int Prune(ulong nowMs)
    {
        lock (_lock)
        {
            return PruneLocked(nowMs);
        }
    }

    private int PruneLocked(ulong nowMs)
    {
        if (nowMs < RecentMs)
        {
            return 0;
        }

        if (LatestLocked()?.Id is not { } newestId)
        {
            return 0;
        }

        var cutoffMs = (long)(nowMs - RecentMs);
        var after = _prunedThroughId;
        var examinedThrough = _prunedThroughId;
        var lastKeptHour = _lastKeptHour;
        var doomed = new List<long>();
        foreach (var checkpoint in _checkpoints.Query()
                     .Where(checkpoint => checkpoint.Id > after && checkpoint.Id < newestId)
                     .OrderBy(checkpoint => checkpoint.Id)
                     .Limit(PruneBatchMax)
                     .ToEnumerable())
        {
            if (checkpoint.SignedAtMs >= cutoffMs)
            {
                break;
            }

            var hour = (ulong)checkpoint.SignedAtMs / HourMs;
            if (lastKeptHour == hour)
            {
                doomed.Add(checkpoint.Id);
            }
            else
            {
                lastKeptHour = hour;
            }

            examinedThrough = checkpoint.Id;
        }

        if (doomed.Count > 0)
        {
            // One transaction: one write of LiteDB's log for the lot. Should it fail, the same
            // checkpoints are examined again next time.
            _database.BeginTrans();
            try
            {
                foreach (var id in doomed)
                {
                    _checkpoints.Delete(id);
                }

                _database.Commit();
            }
            catch
            {
                _database.Rollback();
                throw;
            }
        }

        _prunedThroughId = examinedThrough;
        _lastKeptHour = lastKeptHour;
        return doomed.Count;
    }

    public ArchivedCheckpoint? Latest()
    {
        lock (_lock)
        {
            return LatestLocked();
        }
    }

    private ArchivedCheckpoint? LatestLocked() => _checkpoints.Query().OrderByDescending(checkpoint => checkpoint.Id).FirstOrDefault();

    public ArchivedCheckpoint? AtSize(ulong treeSize)
    {
        lock (_lock)
        {
            return _checkpoints.FindById((long)treeSize);
        }
    }

    public int Count()
    {
        lock (_lock)
        {
            return _checkpoints.Count();
        }
    }

    public void Dispose() => _database.Dispose();
}
