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
/// </summary>
internal sealed class CheckpointArchive : IDisposable
{
    private const string CollectionName = "checkpoints";
    private readonly LiteDatabase _database;
    private readonly ILiteCollection<ArchivedCheckpoint> _checkpoints;
    private readonly Lock _lock = new();

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

    public void Save(ulong treeSize, string text, ulong signedAtMs)
    {
        Invariant.Check(treeSize <= long.MaxValue);
        lock (_lock)
        {
            _checkpoints.Upsert(new ArchivedCheckpoint { Id = (long)treeSize, Text = text, SignedAtMs = (long)signedAtMs });
        }
    }

    public ArchivedCheckpoint? Latest()
    {
        lock (_lock)
        {
            return _checkpoints.Query().OrderByDescending(checkpoint => checkpoint.Id).FirstOrDefault();
        }
    }

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
