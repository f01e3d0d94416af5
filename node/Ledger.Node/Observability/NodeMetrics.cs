using System.Diagnostics.Metrics;
using Ledger.Node.Hosting;
using Ledger.Node.Replicated;

namespace Ledger.Node.Observability;

/// <summary>
/// The node's metrics (meter <see cref="MeterName"/>), exported in the Prometheus text format on
/// <c>/metrics</c>: what was anchored and refused, batch sizes, commit and apply latency, the Raft
/// term, leader changes, the tree size and, on the leader, each member's replication lag.
/// </summary>
internal sealed class NodeMetrics : IDisposable
{
    public const string MeterName = "Ledger.Node";

    private readonly Meter _meter;
    private readonly Counter<long> _anchors;
    private readonly Counter<long> _digests;
    private readonly Counter<long> _refusals;
    private readonly Histogram<long> _batchDigests;
    private readonly Histogram<double> _commitSeconds;
    private readonly Histogram<double> _applySeconds;

    public NodeMetrics(IMeterFactory meters, LedgerNode node)
    {
        _meter = meters.Create(MeterName);
        _anchors = _meter.CreateCounter<long>("ledger.anchors", "{request}", "Anchor requests answered with success by this node");
        _digests = _meter.CreateCounter<long>("ledger.digests", "{digest}", "Digests in anchor requests answered with success by this node");
        _refusals = _meter.CreateCounter<long>("ledger.admission.refusals", "{request}", "Anchor requests refused before anything was written, by reason");
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
        }
    }

    public void Anchored(int digests)
    {
        _anchors.Add(1);
        _digests.Add(digests);
    }

    public void Refused(string reason) => _refusals.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void Committed(int digests, TimeSpan elapsed)
    {
        _batchDigests.Record(digests);
        _commitSeconds.Record(elapsed.TotalSeconds);
    }

    public void Applied(TimeSpan elapsed) => _applySeconds.Record(elapsed.TotalSeconds);

    public void Dispose() => _meter.Dispose();

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
}
