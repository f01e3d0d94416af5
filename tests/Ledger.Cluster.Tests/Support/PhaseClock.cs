using System.Diagnostics;
using Xunit.Abstractions;

namespace Ledger.Cluster.Tests.Support;

/// <summary>Writes how long each phase of a test took to the test's output (never asserted on).</summary>
internal sealed class PhaseClock(ITestOutputHelper output)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _lastMs;

    public void Mark(string phase)
    {
        var nowMs = _clock.ElapsedMilliseconds;
        output.WriteLine($"{nowMs,7} ms (+{nowMs - _lastMs} ms) {phase}");
        _lastMs = nowMs;
    }
}
