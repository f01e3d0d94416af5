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
/// the newest is the largest id and there is at most one checkpoint per size.
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
        _database = new LiteDatabase(new ConnectionString { Filename = path, Connection = ConnectionType.Direct }, mapper);
        _checkpoints = _database.GetCollection<ArchivedCheckpoint>(CollectionName);
    }

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
