using System.Diagnostics;
using System.Globalization;
using Xunit.Abstractions;

namespace Ledger.Consensus.Tests;

/// <summary>
/// The seeded cluster simulation. <c>LEDGER_SIM_SEEDS=N</c> runs N seeds, <c>LEDGER_SIM_FIRST_SEED=S</c>
/// starts at seed S, <c>LEDGER_SIM_STEPS=K</c> sets the faulty steps per seed.
/// </summary>
public sealed class SimulationTests(ITestOutputHelper output)
{
    private const int DefaultSeeds = 2000;
    private const int DefaultSteps = 2000;

    private static ulong Setting(string name, ulong fallback) =>
        ulong.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.None, CultureInfo.InvariantCulture, out ulong value) ? value : fallback;

    [Fact]
    public void Simulation_seeds_hold_every_safety_property_and_converge()
    {
        ulong first = Setting("LEDGER_SIM_FIRST_SEED", 1);
        ulong count = Setting("LEDGER_SIM_SEEDS", DefaultSeeds);
        int steps = (int)Setting("LEDGER_SIM_STEPS", DefaultSteps);
        var failures = new List<string>();
        long totalSteps = 0;
        long acknowledged = 0;
        long reads = 0;
        var clock = Stopwatch.StartNew();
        Parallel.For(0L, (long)count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, offset =>
        {
            ulong seed = first + (ulong)offset;
            string? traceFile = Environment.GetEnvironmentVariable("LEDGER_SIM_TRACE_FILE");
            var cluster = new SimulationCluster(seed, keepTrace: traceFile is not null && count == 1);
            try
            {
                cluster.Run(steps);
            }
            catch (Exception failure) when (failure is SimulationViolation or InvariantException)
            {
                if (traceFile is not null && count == 1)
                {
                    File.WriteAllText(traceFile, cluster.TraceText);
                }

                lock (failures)
                {
                    failures.Add($"seed {seed} at step {cluster.StepsRun}: {failure.Message}\n  replay: LEDGER_SIM_FIRST_SEED={seed} LEDGER_SIM_SEEDS=1 dotnet test tests/Ledger.Consensus.Tests -c Release --filter FullyQualifiedName~Simulation");
                }
            }

            Interlocked.Add(ref totalSteps, cluster.StepsRun);
            Interlocked.Add(ref acknowledged, cluster.AcknowledgedCount);
            Interlocked.Add(ref reads, cluster.ReadsServed);
        });
        clock.Stop();
        output.WriteLine($"Simulation covered seeds [{first}, {first + count}) with {steps} faulty steps each: {totalSteps} steps in total, {acknowledged} proposals acknowledged, {reads} linearizable reads served, {clock.Elapsed.TotalSeconds:F1} s, {totalSteps / Math.Max(clock.Elapsed.TotalSeconds, 1e-9):F0} steps/s");
        failures.Sort(StringComparer.Ordinal);
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(10)));
    }

    /// <summary>Seeds of the replacement runs; <c>LEDGER_SIM_REPLACEMENT_SEEDS=N</c> runs N.</summary>
    private const int DefaultReplacementSeeds = 400;

    [Fact]
    public void Simulation_with_replaced_members_holding_their_votes_keeps_every_safety_property()
    {
        ulong count = Setting("LEDGER_SIM_REPLACEMENT_SEEDS", DefaultReplacementSeeds);
        var (failures, wipes) = RunReplacementSeeds(count, holdVotes: true, stopAtFirstFailure: false);
        output.WriteLine($"{count} replacement seeds, {wipes} of them with at least one member replaced");
        Assert.True(wipes > (long)count / 2, $"only {wipes} of {count} seeds replaced a member");
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(10)));
    }

    [Fact]
    public void Simulation_with_replaced_members_that_vote_at_once_loses_committed_entries_or_elects_two_leaders()
    {
        var (failures, _) = RunReplacementSeeds(DefaultReplacementSeeds, holdVotes: false, stopAtFirstFailure: true);
        output.WriteLine(failures.FirstOrDefault() ?? "no violation");
        Assert.Contains(failures, failure => failure.Contains("lacks committed index", StringComparison.Ordinal)
            || failure.Contains("both lead term", StringComparison.Ordinal) || failure.Contains("committed a different entry", StringComparison.Ordinal));
    }

    private static (List<string> Failures, long SeedsWithWipes) RunReplacementSeeds(ulong count, bool holdVotes, bool stopAtFirstFailure)
    {
        var failures = new List<string>();
        long withWipes = 0;
        Parallel.For(0L, (long)count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, (offset, loop) =>
        {
            ulong seed = 1 + (ulong)offset;
            var cluster = new SimulationCluster(seed, keepTrace: false, replacements: true, holdVotes: holdVotes);
            try
            {
                cluster.Run(DefaultSteps);
            }
            catch (Exception failure) when (failure is SimulationViolation or InvariantException)
            {
                lock (failures)
                {
                    failures.Add($"seed {seed} at step {cluster.StepsRun}: {failure.Message}");
                }

                if (stopAtFirstFailure)
                {
                    loop.Stop();
                }
            }

            if (cluster.Wipes > 0)
            {
                Interlocked.Increment(ref withWipes);
            }
        });
        failures.Sort(StringComparer.Ordinal);
        return (failures, withWipes);
    }

    [Fact]
    public void Simulation_same_seed_gives_byte_identical_traces()
    {
        var first = new SimulationCluster(42, keepTrace: true);
        first.Run(2000);
        var second = new SimulationCluster(42, keepTrace: true);
        second.Run(2000);
        var other = new SimulationCluster(43, keepTrace: true);
        other.Run(2000);
        Assert.Equal(first.TraceText, second.TraceText);
        Assert.Equal(first.TraceHash, second.TraceHash);
        Assert.NotEqual(first.TraceText, other.TraceText);
        Assert.True(first.AcknowledgedCount > 0, "the simulation must make progress");
        Assert.True(first.ReadsServed > 0, "the simulation must serve reads");
    }
}
