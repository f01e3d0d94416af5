using System.Net;
using LiteDB;

namespace Ledger.Discovery;

/// <summary>One member's entry: where it last proved to be that member, and when it was last seen.</summary>
/// <param name="MemberName">The member name from the consortium file.</param>
/// <param name="Address">The last address at which the member proved it holds its pinned key.</param>
/// <param name="VerifiedAt">When that proof succeeded.</param>
/// <param name="LastSeenAt">When the member was last seen (verified or announced at that address).</param>
public sealed record PeerBookEntry(string MemberName, IPEndPoint Address, DateTimeOffset VerifiedAt, DateTimeOffset LastSeenAt);

/// <summary>
/// The node-local peer book in a LiteDB file: member name → last verified address and last seen
/// time. It holds no secrets (the file gets the process's default permissions) and only addresses
/// that passed <see cref="IPeerAddressVerifier"/>. At most <see cref="PeersMax"/> entries: adding one
/// more forgets the least recently seen. Thread-safe (LiteDB serialises writers).
/// </summary>
public sealed class PeerBook : IDisposable
{
    /// <summary>The default upper bound on entries.</summary>
    public const int PeersMaxDefault = 1024;

    private const string CollectionName = "peers";
    private const string MemberField = "member";
    private const string SeenField = "seenMs";

    private readonly LiteDatabase _database;
    private readonly ILiteCollection<BsonDocument> _peers;
    private readonly Lock _gate = new();

    /// <summary>Opens (or creates) the peer book at <paramref name="path"/>.</summary>
    public PeerBook(string path, int peersMax = PeersMaxDefault)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentOutOfRangeException.ThrowIfLessThan(peersMax, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(peersMax, 100_000);
        PeersMax = peersMax;
        _database = new LiteDatabase(new ConnectionString { Filename = path, Connection = ConnectionType.Direct });
        _peers = _database.GetCollection(CollectionName);
        _peers.EnsureIndex(MemberField, "$." + MemberField, unique: true);
        _peers.EnsureIndex(SeenField, "$." + SeenField);
    }

    /// <summary>Upper bound on entries.</summary>
    public int PeersMax { get; }

    /// <summary>How many entries the book holds.</summary>
    public int Count => _peers.Count();

    /// <summary>Records that <paramref name="memberName"/> proved at <paramref name="address"/>, at <paramref name="verifiedAt"/>, that it holds its key.</summary>
    public void RecordVerified(string memberName, IPEndPoint address, DateTimeOffset verifiedAt)
    {
        ArgumentException.ThrowIfNullOrEmpty(memberName);
        ArgumentNullException.ThrowIfNull(address);
        lock (_gate)
        {
            var document = _peers.FindOne(Query.EQ(MemberField, memberName));
            if (document is null && _peers.Count() >= PeersMax)
            {
                ForgetLeastRecentlySeen();
            }

            document ??= new BsonDocument { ["_id"] = ObjectId.NewObjectId(), [MemberField] = memberName };
            document["address"] = address.Address.ToString();
            document["port"] = address.Port;
            document["verifiedMs"] = verifiedAt.ToUnixTimeMilliseconds();
            document[SeenField] = verifiedAt.ToUnixTimeMilliseconds();
            _peers.Upsert(document);
        }
    }

    /// <summary>Records that a member with an entry was seen again; false (and nothing stored) for a member without one.</summary>
    public bool RecordSeen(string memberName, DateTimeOffset seenAt)
    {
        ArgumentException.ThrowIfNullOrEmpty(memberName);
        lock (_gate)
        {
            var document = _peers.FindOne(Query.EQ(MemberField, memberName));
            if (document is null)
            {
                return false;
            }

            document[SeenField] = Math.Max(document[SeenField].AsInt64, seenAt.ToUnixTimeMilliseconds());
            return _peers.Update(document);
        }
    }

    /// <summary>The entry of a member, or null.</summary>
    public PeerBookEntry? Get(string memberName)
    {
        ArgumentException.ThrowIfNullOrEmpty(memberName);
        var document = _peers.FindOne(Query.EQ(MemberField, memberName));
        return document is null ? null : ToEntry(document);
    }

    /// <summary>Every entry, ordered by member name.</summary>
    public IReadOnlyList<PeerBookEntry> List() =>
        [.. _peers.Find(Query.All(MemberField)).Take(PeersMax).Select(ToEntry)];

    /// <summary>Forgets a member; false if it had no entry.</summary>
    public bool Remove(string memberName)
    {
        ArgumentException.ThrowIfNullOrEmpty(memberName);
        lock (_gate)
        {
            return _peers.DeleteMany(Query.EQ(MemberField, memberName)) > 0;
        }
    }

    /// <summary>The query plan of a lookup by member name (to check that it uses the index).</summary>
    internal string ExplainLookup(string memberName) =>
        _peers.Query().Where(Query.EQ(MemberField, memberName)).GetPlan()["index"]["expr"].AsString;

    /// <inheritdoc />
    public void Dispose() => _database.Dispose();

    private void ForgetLeastRecentlySeen()
    {
        var oldest = _peers.Find(Query.All(SeenField, Query.Ascending), limit: 1).FirstOrDefault();
        if (oldest is not null)
        {
            _peers.Delete(oldest["_id"]);
        }
    }

    private static PeerBookEntry ToEntry(BsonDocument document) =>
        new(
            document[MemberField].AsString,
            new IPEndPoint(IPAddress.Parse(document["address"].AsString), document["port"].AsInt32),
            DateTimeOffset.FromUnixTimeMilliseconds(document["verifiedMs"].AsInt64),
            DateTimeOffset.FromUnixTimeMilliseconds(document[SeenField].AsInt64));
}
