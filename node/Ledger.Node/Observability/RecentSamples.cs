namespace Ledger.Node.Observability;

/// <summary>
/// The most recent <see cref="SamplesMax"/> durations, for percentiles a person reads in
/// <c>ledger status</c> (the Prometheus histograms keep the exact buckets). Thread-safe.
/// </summary>
internal sealed class RecentSamples
{
    public const int SamplesMax = 4096;

    private readonly double[] _samples = new double[SamplesMax];
    private readonly Lock _gate = new();
    private long _recorded;

    public void Record(double value)
    {
        lock (_gate)
        {
            _samples[_recorded % SamplesMax] = value;
            _recorded++;
        }
    }

    /// <summary>The given percentiles (0 to 100) of the samples held, nearest-rank; zeros when there is none.</summary>
    public double[] Percentiles(params double[] percentiles)
    {
        double[] copy;
        lock (_gate)
        {
            copy = _samples[..(int)Math.Min(_recorded, SamplesMax)];
        }

        Array.Sort(copy);
        return [.. percentiles.Select(p => copy.Length == 0 ? 0 : copy[Math.Clamp((int)Math.Ceiling(p / 100 * copy.Length) - 1, 0, copy.Length - 1)])];
    }
}

/// <summary>
/// Counts per second over the last <see cref="WindowSeconds"/> complete seconds, in a ring of
/// one-second slots (no allocation per event). Thread-safe.
/// </summary>
internal sealed class RecentRate(Func<long> nowSeconds)
{
    public const int WindowSeconds = 10;

    private const int Slots = WindowSeconds + 2;

    private readonly long[] _second = new long[Slots];
    private readonly long[] _count = new long[Slots];
    private readonly long _startedSecond = nowSeconds();
    private readonly Lock _gate = new();

    public void Add(long count)
    {
        var now = nowSeconds();
        var slot = (int)(now % Slots);
        lock (_gate)
        {
            if (_second[slot] != now)
            {
                _second[slot] = now;
                _count[slot] = 0;
            }

            _count[slot] += count;
        }
    }

    /// <summary>The average per second over the complete seconds of the window (fewer right after start).</summary>
    public double PerSecond()
    {
        var now = nowSeconds();
        var seconds = Math.Min(WindowSeconds, now - _startedSecond);
        if (seconds <= 0)
        {
            return 0;
        }

        long total = 0;
        lock (_gate)
        {
            for (var slot = 0; slot < Slots; slot++)
            {
                if (_second[slot] < now && _second[slot] >= now - seconds)
                {
                    total += _count[slot];
                }
            }
        }

        return (double)total / seconds;
    }
}
