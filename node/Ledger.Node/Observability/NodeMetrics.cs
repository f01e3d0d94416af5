using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Ledger.Node.Hosting;
using Ledger.Node.Replicated;
using Ledger.Sdk.Protos.V1;

namespace Ledger.Node.Observability;

/// <summary>
/// The node's metrics (meter <see cref="MeterName"/>), exported in the Prometheus text format on
/// <c>/metrics</c>: what was anchored and refused, batch sizes, commit and apply latency, the Raft
/// term, leader changes, the tree size and, on the leader, each member's replication lag.
/// The same numbers, for a person, in the status call's <see cref="NodeActivity"/> (<see cref="Activity"/>).
/// </summary>
internal sealed class NodeMetrics : IDisposable
{
    public const string MeterName = "Ledger.Node";

    /// <summary>Refusal reasons counted separately in <see cref="Activity"/>; any further one counts as "other".</summary>
    public const int RefusalReasonsMax = 32;

    private readonly Meter _meter;
    private readonly Counter<long> _anchors;
    private readonly Counter<long> _digests;
    private readonly Counter<long> _refusals;
    private readonly Counter<long> _droppedEntries;
    private readonly Histogram<long> _batchDigests;
    private readonly Histogram<double> _commitSeconds;
    private readonly Histogram<double> _applySeconds;
    private readonly LedgerNode _node;
    private readonly long _started = Stopwatch.GetTimestamp();
    private readonly RecentRate _anchorRate = new(NowSeconds);
    private readonly RecentRate _digestRate = new(NowSeconds);
    private readonly RecentSamples _commitMs = new();
    private readonly RecentSamples _applyMs = new();
    private readonly ConcurrentDictionary<string, long> _refusalsByReason = new(StringComparer.Ordinal);
    private long _anchorsTotal;
    private long _digestsTotal;
    private long _batchesTotal;
    private long _batchDigestsTotal;

    public NodeMetrics(IMeterFactory meters, LedgerNode node)
    {
        _node = node;
        _meter = meters.Create(MeterName);
        _anchors = _meter.CreateCounter<long>("ledger.anchors", "{request}", "Anchor requests of clients answered with success by this node (a follower counts what it forwarded, the leader does not count it again)");
        _digests = _meter.CreateCounter<long>("ledger.digests", "{digest}", "Digests in the anchor requests counted by ledger.anchors");
        _refusals = _meter.CreateCounter<long>("ledger.admission.refusals", "{request}", "Anchor requests refused before anything was written, by reason");
        _droppedEntries = _meter.CreateCounter<long>("ledger.entries.dropped", "{submission}",
            "Submissions in committed batches that apply left out because their issuer did not sign them (a member that led admitted them)");
        _batchDigests = _meter.CreateHistogram<long>("ledger.batch.digests", "{digest}", "Digests per batch this node proposed",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [1, 10, 100, 500, 1_000, 2_000, 5_000, 10_000, 20_000] });
        _commitSeconds = _meter.CreateHistogram<double>("ledger.commit.duration", "s", "From proposing a batch to its commit (durable here, or on a majority)",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2] });
        _applySeconds = _meter.CreateHistogram<double>("ledger.apply.duration", "s", "Time to apply one committed batch to the state",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5] });
        _meter.CreateObservableGauge("ledger.tree.size", () => (long)node.State.TreeSize, "{leaf}", "Leaves in this node's applied tree");
        _meter.CreateObservableGauge("ledger.applied.index", () => (long)node.AppliedLogIndex, "{entry}", "Log position this node has applied");
        _meter.CreateObservableGauge("ledger.checkpoint.size", () => (long)node.Signer.Latest.TreeSize, "{leaf}", "Tree size of the latest checkpoint this node serves");
        if (node.Replica is { } replica)
        {
            _meter.CreateObservableGauge("ledger.raft.term", () => (long)replica.Host.Status.Term, "{term}", "Raft term");
            _meter.CreateObservableGauge("ledger.raft.commit.index", () => (long)replica.Host.Status.CommitIndex, "{entry}", "Raft commit index");
            _meter.CreateObservableGauge("ledger.raft.leader", () => replica.IsLeader ? 1 : 0, "1", "1 on the leader, 0 elsewhere");
            _meter.CreateObservableCounter("ledger.raft.leader.changes", () => replica.Host.LeaderChanges, "{change}", "Leader changes this node saw");
            _meter.CreateObservableGauge("ledger.replication.lag", () => ReplicationLag(replica), "{entry}",
                "On the leader: entries of its log a member does not hold yet, per member");
            _meter.CreateObservableCounter("ledger.peer.messages.dropped", () => PeerMessagesDropped(replica), "{message}",
                "Raft messages to a member this node dropped, per member: its queue was full (queue_full), or they were queued before the stream to it opened (stale)");
        }
    }

    public void Anchored(int digests)
    {
        _anchors.Add(1);
        _digests.Add(digests);
        Interlocked.Increment(ref _anchorsTotal);
        Interlocked.Add(ref _digestsTotal, digests);
        _anchorRate.Add(1);
        _digestRate.Add(digests);
    }

    public void Refused(string reason)
    {
        _refusals.Add(1, new KeyValuePair<string, object?>("reason", reason));
        var key = _refusalsByReason.ContainsKey(reason) || _refusalsByReason.Count < RefusalReasonsMax ? reason : "other";
        _refusalsByReason.AddOrUpdate(key, 1, (_, count) => count + 1);
    }

    public void EntryDropped() => _droppedEntries.Add(1);

    public void Committed(int digests, TimeSpan elapsed)
    {
        _batchDigests.Record(digests);
        _commitSeconds.Record(elapsed.TotalSeconds);
        Interlocked.Increment(ref _batchesTotal);
        Interlocked.Add(ref _batchDigestsTotal, digests);
        _commitMs.Record(elapsed.TotalMilliseconds);
    }

    public void Applied(TimeSpan elapsed)
    {
        _applySeconds.Record(elapsed.TotalSeconds);
        _applyMs.Record(elapsed.TotalMilliseconds);
    }

    /// <summary>This node's counters since it started, as the status call reports them.</summary>
    public NodeActivity Activity()
    {
        var commit = _commitMs.Percentiles(50, 99);
        var apply = _applyMs.Percentiles(50, 99);
        var activity = new NodeActivity
        {
            Anchors = (ulong)Interlocked.Read(ref _anchorsTotal),
            Digests = (ulong)Interlocked.Read(ref _digestsTotal),
            AnchorsPerSecond = _anchorRate.PerSecond(),
            DigestsPerSecond = _digestRate.PerSecond(),
            LeaderChanges = (ulong)(_node.Replica?.Host.LeaderChanges ?? 0),
            Batches = (ulong)Interlocked.Read(ref _batchesTotal),
            BatchDigests = (ulong)Interlocked.Read(ref _batchDigestsTotal),
            CommitP50Ms = commit[0],
            CommitP99Ms = commit[1],
            ApplyP50Ms = apply[0],
            ApplyP99Ms = apply[1],
            UptimeSeconds = (ulong)Stopwatch.GetElapsedTime(_started).TotalSeconds,
        };
        activity.Refusals.AddRange(_refusalsByReason
            .OrderBy(pair => pair.Key, StringComparer.Ordinal)
            .Select(pair => new RefusalCount { Reason = pair.Key, Count = (ulong)pair.Value }));
        return activity;
    }

    public void Dispose() => _meter.Dispose();

    private static long NowSeconds() => Environment.TickCount64 / 1000;

    private static IEnumerable<Measurement<long>> ReplicationLag(ReplicaMember replica)
    {
        var last = replica.Host.Status.LastIndex;
        foreach (var (id, match) in replica.Host.MatchIndices)
        {
            if (replica.Peers.MembersById.TryGetValue(id, out var member))
            {
                yield return new Measurement<long>((long)(last - Math.Min(last, match)), new KeyValuePair<string, object?>("member", member.Id));
            }
        }
    }

    private static IEnumerable<Measurement<long>> PeerMessagesDropped(ReplicaMember replica)
    {
        foreach (var (member, queueFull, stale) in replica.PeerMessagesDropped())
        {
            var to = new KeyValuePair<string, object?>("member", member);
            yield return new Measurement<long>(queueFull, to, new KeyValuePair<string, object?>("reason", "queue_full"));
            yield return new Measurement<long>(stale, to, new KeyValuePair<string, object?>("reason", "stale"));
        }
    }
}
