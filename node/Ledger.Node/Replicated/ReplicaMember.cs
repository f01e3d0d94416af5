using System.Security.Cryptography;
using Ledger.Consensus;
using Ledger.Node.Hosting;
using Ledger.Replication;
using Ledger.Sdk;
using Ledger.Storage;

namespace Ledger.Node.Replicated;

/// <summary>
/// A member's part in a consortium of several: its durable Raft log (its own RocksDB store under
/// <c>DataDir/raft</c>, fsynced before any vote or acknowledgement leaves), the Raft core and the
/// loop driving it, the peer transport, and the clients it uses toward the other members
/// (cosignatures, read points, forwarded anchors, status).
/// </summary>
internal sealed class ReplicaMember : IAsyncDisposable
{
    private readonly RocksDbKeyValueStore _raftStore;
    private readonly GrpcPeerTransport _transport;
    private readonly HeldVotesProbe _heldVotes;

    public ReplicaMember(NodeOptions options, NodeFiles files, Consortium consortium, SignerKey memberKey, ulong appliedIndex, Func<ulong> nowMs,
        Action<StorageCorruptException>? onCorruption = null, ILoggerFactory? loggers = null)
    {
        _raftStore = RocksDbKeyValueStore.Open(Path.Combine(files.DataDir, "raft"), onCorruption);
        try
        {
            Peers = new PeerContext(consortium, memberKey, nowMs, TimeSpan.FromMilliseconds(options.ClockSkewMs));
            CheckMembersUnchanged(_raftStore, consortium, files);
            CheckIssuerKeysUnchanged(_raftStore, consortium, files);
            var log = new RaftLogStore(_raftStore, new Membership(consortium.Members.Select(m => MemberIds.Of(m.Id))));
            if (appliedIndex > log.HardState.Commit)
            {
                throw new NodeStartException(
                    $"the state in {files.DataDir} has applied log entry {appliedIndex} but the Raft log there has committed only {log.HardState.Commit}: "
                    + "the Raft log was replaced or damaged; move the data directory aside and start with an empty one to rebuild from the other members");
            }

            var config = new RaftConfig
            {
                NodeId = Peers.SelfId,
                ElectionTimeoutTicks = options.ElectionTimeoutTicks,
                HeartbeatTicks = 1,
                MaxEntryBytes = 8UL << 20,
                MaxMessageBytes = 16UL << 20,
                MaxInflightBytes = 64UL << 20,
                MaxUncommittedBytes = 256UL << 20,
                MaxApplyBytesPerReady = 32UL << 20,
            };
            var node = new RaftNode(config, log, new SplitMix64Random(BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8))), appliedIndex);
            _transport = new GrpcPeerTransport(Peers, options.AllowPlaintext);
            loggers ??= Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance;
            var leaderLog = new LeaderChangeLog(Peers, loggers.CreateLogger<ReplicaMember>());
            Host = new RaftHost(node, log, _transport, new RaftHostOptions
            {
                TickInterval = TimeSpan.FromMilliseconds(options.TickMs),
                LeaderChanged = leaderLog.Changed,
                VotesReleased = leaderLog.VotesReleased,
            });
            Peers.Host = Host;
            if (Host.Status.VotesHeld)
            {
                leaderLog.VotesHeld();
            }

            _heldVotes = new HeldVotesProbe(Peers);
            RecoveredCommitIndex = log.HardState.Commit;
            Cosignatures = new CosignatureCollector(Peers);
            Reads = new LeaderReads(Peers);
            Members = new MemberClients(Peers.AddressOf, options.MessageBytesMax);
            var interfaces = (options.DiscoveryInterfaces ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (interfaces.Length > 0)
            {
                Discovery = new NodeDiscovery(Peers, new Uri(options.Listen), interfaces, Path.Combine(files.DataDir, "peers.db"),
                    loggers.CreateLogger<Ledger.Discovery.PeerDiscovery>());
            }
        }
        catch (Exception exception) when (exception is FormatException or ArgumentException)
        {
            _raftStore.Dispose();
            throw new NodeStartException(exception.Message);
        }
        catch
        {
            _raftStore.Dispose();
            throw;
        }
    }

    public PeerContext Peers { get; }

    /// <summary>The store holding the Raft log and hard state.</summary>
    public RocksDbKeyValueStore Store => _raftStore;

    /// <summary>Discovery of members without an address in the file; null when off.</summary>
    public NodeDiscovery? Discovery { get; }

    public RaftHost Host { get; }

    /// <summary>The commit index in the Raft log's hard state when the member started.</summary>
    public ulong RecoveredCommitIndex { get; }

    /// <summary>Per other member: messages to it dropped on a full queue, and stale stream messages dropped (<see cref="GrpcPeerTransport"/>).</summary>
    public IEnumerable<(string Member, long QueueFull, long Stale)> PeerMessagesDropped() => _transport.DroppedByMember();

    public CosignatureCollector Cosignatures { get; }

    public LeaderReads Reads { get; }

    /// <summary>Public-API clients toward the other members (forwarding, status).</summary>
    public MemberClients Members { get; }

    /// <summary>Name of the member this one follows, or null while no leader is known.</summary>
    public string? LeaderName =>
        Host.Status.LeaderId != 0 && Peers.MembersById.TryGetValue(Host.Status.LeaderId, out var leader) ? leader.Id : null;

    public bool IsLeader => Host.Status.Role == RaftRole.Leader;

    /// <summary>
    /// How far this member has applied the Raft log, counting Raft's own entries (a new leader's
    /// empty entry) as applied once every batch before them is: <paramref name="stateBatchIndex"/>
    /// is the state's applied position.
    /// </summary>
    public ulong AppliedLogIndex(Func<ulong> stateBatchIndex)
    {
        // Read in this order: every batch at or below the Raft applied index was queued before it was read.
        var raftApplied = Host.Status.AppliedIndex;
        var queued = Host.LastQueuedApplicationIndex;
        var state = stateBatchIndex();
        return state >= queued ? Math.Max(state, raftApplied) : state;
    }

    /// <summary>
    /// On a graceful stop of the leader: asks the follower whose log matches furthest to take over
    /// (Raft's leadership transfer: it is brought up to date, then told to start an election at once)
    /// and waits up to <paramref name="wait"/> for this member to step down. Returns the member asked,
    /// or null when this member does not lead or has no follower to hand to.
    /// </summary>
    public async Task<string?> HandOffLeadershipAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        if (!IsLeader)
        {
            return null;
        }

        var successor = Host.MatchIndices
            .Where(match => Peers.MembersById.TryGetValue(match.Key, out var member) && member.Id != Peers.MemberKey.Name)
            .OrderByDescending(match => match.Value)
            .Select(match => (KeyValuePair<ulong, ulong>?)match)
            .FirstOrDefault();
        if (successor is null)
        {
            return null;
        }

        await Host.TransferLeadershipAsync(successor.Value.Key, cancellationToken);
        var deadline = DateTime.UtcNow + wait;
        while (IsLeader && DateTime.UtcNow < deadline)
        {
            await Task.Delay(HandOffPollMs, cancellationToken);
        }

        return Peers.MembersById[successor.Value.Key].Id;
    }

    private const int HandOffPollMs = 10;

    public void Start()
    {
        _transport.Start();
        Host.Start();
        _heldVotes.Start();
        Discovery?.Start();
    }

    public async ValueTask DisposeAsync()
    {
        if (Discovery is not null)
        {
            await Discovery.DisposeAsync();
        }

        await _heldVotes.DisposeAsync();
        await Host.DisposeAsync();
        await _transport.DisposeAsync();
        Cosignatures.Dispose();
        Reads.Dispose();
        Members.Dispose();
        _raftStore.Dispose();
    }

    /// <summary>
    /// Raft's voters are the consortium file's members as this member's log first saw them; a file
    /// that names other members since would let members count different majorities. The names are
    /// kept beside the log (key <c>m</c>) and compared at every start.
    /// </summary>
    private static void CheckMembersUnchanged(RocksDbKeyValueStore raftStore, Consortium consortium, NodeFiles files)
    {
        var key = "m"u8;
        var members = string.Join('\n', consortium.Members.Select(m => m.Id).Order(StringComparer.Ordinal));
        var stored = raftStore.Get(key);
        if (stored is null)
        {
            // A Raft log created now: a new consortium, or a member replaced on an empty disk, which
            // lost the votes and acknowledgements it gave. Either way it holds its votes until it is
            // safe to vote again (RaftNode.HoldVotes); one member alone has nobody to wait for.
            using var write = raftStore.CreateBatch();
            write.Put(key, System.Text.Encoding.UTF8.GetBytes(members));
            if (consortium.Members.Count > 1)
            {
                RaftLogStore.StageVotesHeld(write);
            }

            raftStore.Write(write, sync: true);
            return;
        }

        var before = System.Text.Encoding.UTF8.GetString(stored);
        if (before != members)
        {
            throw new NodeStartException(
                $"{files.ConsortiumPath} names the members {members.Replace('\n', ',')}, but this member's Raft log in {files.DataDir} was started with "
                + $"{before.Replace('\n', ',')}: changing who is a member is not supported; start from the consortium file the members began with");
        }
    }

    /// <summary>
    /// Every member verifies each submission's issuer signature with the key the consortium file
    /// gives that issuer, at apply and again whenever it rebuilds its state from the log, so a key
    /// must never change in place: the same entries would then verify on some members and not on
    /// others. The raft store keeps every issuer's key as first seen (key <c>i</c>: one line per
    /// issuer, <c>id base64-key</c>); a start whose file gives a known issuer another key is refused.
    /// New issuers are recorded; an issuer left out of the file stays recorded, so it cannot come
    /// back with another key either.
    /// </summary>
    private static void CheckIssuerKeysUnchanged(RocksDbKeyValueStore raftStore, Consortium consortium, NodeFiles files)
    {
        var key = "i"u8;
        var known = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (raftStore.Get(key) is { } stored)
        {
            foreach (var line in System.Text.Encoding.UTF8.GetString(stored).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var parts = line.Split(' ');
                if (parts.Length != 2)
                {
                    throw new NodeStartException($"the issuer keys recorded in {files.DataDir}/raft are damaged (a line '{line}'): move the data directory aside and start with an empty one to rebuild from the other members");
                }

                known[parts[0]] = parts[1];
            }
        }

        var added = false;
        foreach (var issuer in consortium.Issuers)
        {
            var publicKey = Convert.ToBase64String(issuer.Key.PublicKey);
            if (!known.TryGetValue(issuer.Id, out var before))
            {
                known[issuer.Id] = publicKey;
                added = true;
            }
            else if (before != publicKey)
            {
                throw new NodeStartException(
                    $"{files.ConsortiumPath} gives issuer '{issuer.Id}' a key other than the one this member has known it by ({before}): "
                    + "every member checks each submission's signature again when it rebuilds, so an issuer's key is never replaced in place; "
                    + "give the new key a new issuer id, or start from the consortium file with the issuer's earlier key");
            }
        }

        if (added)
        {
            using var write = raftStore.CreateBatch();
            write.Put(key, System.Text.Encoding.UTF8.GetBytes(string.Join('\n', known.Select(pair => $"{pair.Key} {pair.Value}"))));
            raftStore.Write(write, sync: true);
        }
    }

    public static string RoleName(RaftRole role) => role switch
    {
        RaftRole.Leader => "leader",
        RaftRole.Candidate => "candidate",
        RaftRole.PreCandidate => "pre-candidate",
        _ => "follower",
    };
}
