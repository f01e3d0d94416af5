using System.Globalization;

namespace Ledger.EtcdLoad;

/// <summary>
/// Counts requests, keys and errors and keeps request latencies (up to <see cref="LatencySamplesMax"/>) for
/// the summary line; percentiles use the nearest-rank rule, as ledger bench does.
/// </summary>
internal sealed class LoadRecorder
{
    private const int LatencySamplesMax = 10_000_000;

    private readonly Lock _lock = new();
    private readonly List<double> _latenciesMs = [];

    public long Requests { get; private set; }

    public long Keys { get; private set; }

    public long Errors { get; private set; }

    public void Succeeded(int keys, double latencyMs)
    {
        lock (_lock)
        {
            Requests++;
            Keys += keys;
            if (_latenciesMs.Count < LatencySamplesMax)
            {
                _latenciesMs.Add(latencyMs);
            }
        }
    }

    public void Failed(string reason)
    {
        lock (_lock)
        {
            if (Errors == 0)
            {
                Console.Error.WriteLine($"etcd-load: first error: {reason}");
            }

            Errors++;
        }
    }

    public string Summary(double elapsedSeconds)
    {
        lock (_lock)
        {
            _latenciesMs.Sort();
            var rate = elapsedSeconds > 0 ? Keys / elapsedSeconds : 0;
            return string.Create(
                CultureInfo.InvariantCulture,
                $"keys_per_s={rate:F0} p50_ms={Percentile(0.50):F2} p99_ms={Percentile(0.99):F2} max_ms={Percentile(1.0):F2} errors={Errors}");
        }
    }

    private double Percentile(double fraction)
    {
        if (_latenciesMs.Count == 0)
        {
            return 0;
        }

        var rank = (int)Math.Ceiling(fraction * _latenciesMs.Count) - 1;
        return _latenciesMs[Math.Clamp(rank, 0, _latenciesMs.Count - 1)];
    }
}
