using System.Diagnostics;

namespace Ledger.Node.Hosting;

/// <summary>Counters of the pipeline (batches, digests, time spent making durable and applying), read by tracing.</summary>
internal sealed class PipelineStats
{
    private long _batches;
    private long _digests;
    private long _proposeTicks;
    private long _applyTicks;

    public void Proposed(int digests, long elapsedTicks)
    {
        Interlocked.Increment(ref _batches);
        Interlocked.Add(ref _digests, digests);
        Interlocked.Add(ref _proposeTicks, elapsedTicks);
    }

    public void Applied(long elapsedTicks) => Interlocked.Add(ref _applyTicks, elapsedTicks);

    public string Describe()
    {
        var batches = Math.Max(1, Interlocked.Read(ref _batches));
        var toMs = 1000.0 / Stopwatch.Frequency;
        return $"batches={batches} digests={Interlocked.Read(ref _digests)} digests_per_batch={Interlocked.Read(ref _digests) / batches} "
            + $"durable_ms_avg={Interlocked.Read(ref _proposeTicks) * toMs / batches:F2} apply_ms_avg={Interlocked.Read(ref _applyTicks) * toMs / batches:F2}";
    }
}
