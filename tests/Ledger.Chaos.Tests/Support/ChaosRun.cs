using System.Diagnostics;
using System.Globalization;
using System.Text;
using Ledger.Chaos.Tool;

namespace Ledger.Chaos.Tests.Support;

/// <summary>How one fault-injection run goes.</summary>
/// <param name="Members">Consortium size (the last member's data folder is a small tmpfs).</param>
/// <param name="Seed">Drives every choice of the schedule, the nemeses and the workload.</param>
/// <param name="FaultPhase">How long faults are injected while the workload runs.</param>
/// <param name="Hold">How long each fault stays before it is healed.</param>
/// <param name="Gap">Quiet time after each heal.</param>
/// <param name="Issuers">Concurrent issuers (two loops each).</param>
/// <param name="EveryKindFirst">Start the schedule with each kind once (the bounded run mixes every nemesis).</param>
internal sealed record ChaosSettings(int Members, int Seed, TimeSpan FaultPhase, TimeSpan Hold, TimeSpan Gap, int Issuers, bool EveryKindFirst);

/// <summary>What a run produced: the checker's summary and exit code, the faults, and members that exited on their own.</summary>
internal sealed record ChaosOutcome(int CheckerExitCode, string Summary, IReadOnlyList<FaultRecord> Faults, IReadOnlyList<string> Exits, IReadOnlyList<string> UnexpectedExits, string Logs);

/// <summary>
/// One run: start the consortium in namespaces, run the workload from the client namespace, inject a
/// seeded schedule of faults (one at a time, or two at once on different members), heal everything,
/// then run the checker from the client namespace.
/// </summary>
internal static class ChaosRun
{
    /// <summary>Every third step (after the first round) puts two faults in force at once.</summary>
    private const int CombineEvery = 3;

    private static readonly TimeSpan WorkloadGrace = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan CheckerTimeoutMin = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan ConvergeTimeout = TimeSpan.FromSeconds(120);

    /// <summary>
    /// How long the checker may take: it fetches and verifies a receipt per acknowledged digest from every
    /// member, so its work grows with the run (a two-hour run on five members acknowledged 1.7 million
    /// digests, more than five minutes of checking on two cores).
    /// </summary>
    public static TimeSpan CheckerTimeout(TimeSpan faultPhase) => faultPhase / 2 > CheckerTimeoutMin ? faultPhase / 2 : CheckerTimeoutMin;

    public static async Task<ChaosOutcome> RunAsync(ChaosSettings settings, Action<string> log, CancellationToken cancellationToken)
    {
        var random = new Random(settings.Seed);
        await using var cluster = await ChaosCluster.StartAsync(settings.Members, settings.Issuers, smallDiskMember: settings.Members - 1, cancellationToken);
        var netem = await cluster.Network.HasNetemAsync();
        log($"seed {settings.Seed}; {settings.Members} members on {string.Join(", ", cluster.Addresses)}; netem {(netem ? "present" : "absent: delay by tbf, no reordering")}");
        var files = Path.Combine(cluster.DirectoryPath, "run");
        Directory.CreateDirectory(files);
        var history = Path.Combine(files, "history.jsonl");
        var checkpoints = Path.Combine(files, "checkpoints.jsonl");
        var faultsPath = Path.Combine(files, "faults.jsonl");
        var nodes = string.Join(',', cluster.Addresses);
        var workloadSeconds = (int)Math.Ceiling(settings.FaultPhase.TotalSeconds) + 5;
        var workload = cluster.StartTool(
            "workload",
            [
                "workload", "--nodes", nodes, "--seconds", workloadSeconds.ToString(CultureInfo.InvariantCulture), "--history", history, "--checkpoints", checkpoints,
                "--seed", settings.Seed.ToString(CultureInfo.InvariantCulture), .. cluster.IssuerKeyPaths.SelectMany(path => new[] { "--issuer-key", path }),
            ]);
        var nemeses = new Nemeses(cluster, random, netem);
        var faults = new List<FaultRecord>();
        try
        {
            await InjectAsync(settings, cluster, nemeses, random, faults, faultsPath, log, cancellationToken);
            log("faults over: the network is whole, every member runs; waiting for the workload to finish");
            await workload.WaitForExitAsync(TimeSpan.FromSeconds(workloadSeconds) + WorkloadGrace, cancellationToken);
            log(workload.Output);
            var summaryPath = Path.Combine(files, "summary.txt");
            var checker = cluster.StartTool(
                "checker",
                "check", "--nodes", nodes, "--consortium", cluster.ConsortiumPath, "--history", history, "--checkpoints", checkpoints,
                "--faults", faultsPath, "--summary", summaryPath, "--converge-seconds", ConvergeTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture));
            var exitCode = await checker.WaitForExitAsync(CheckerTimeout(settings.FaultPhase), cancellationToken);
            var unexpected = nemeses.Exits.Where(exit => exit.Contains("NOT caused by a fault", StringComparison.Ordinal)).ToArray();
            var logs = exitCode == 0 && unexpected.Length == 0 ? "" : cluster.DescribeLogs();
            KeepFiles(cluster, files);
            var summary = File.Exists(summaryPath) ? await File.ReadAllTextAsync(summaryPath, cancellationToken) : "the checker wrote no summary:\n" + checker.Output + "\n";
            return new ChaosOutcome(exitCode, summary, faults, nemeses.Exits, unexpected, logs);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            KeepFiles(cluster, files);
            throw new InvalidOperationException($"the run with seed {settings.Seed} failed: {exception.Message}\n{cluster.DescribeLogs()}", exception);
        }
    }

    private static async Task InjectAsync(
        ChaosSettings settings, ChaosCluster cluster, Nemeses nemeses, Random random, List<FaultRecord> faults, string faultsPath, Action<string> log, CancellationToken cancellationToken)
    {
        var firstRound = settings.EveryKindFirst ? Nemeses.Kinds.OrderBy(_ => random.Next()).ToList() : [];
        var clock = Stopwatch.StartNew();
        // The first round (every kind once, when asked for) runs whole even on a machine so loaded that
        // it outlasts the fault phase: a bounded run must mix every nemesis.
        for (var step = 0; step < 10_000 && (step < firstRound.Count || clock.Elapsed < settings.FaultPhase); step++)
        {
            var kinds = new List<string> { step < firstRound.Count ? firstRound[step] : Nemeses.Kinds[random.Next(Nemeses.Kinds.Count)] };
            if (step >= firstRound.Count && step % CombineEvery == 0)
            {
                kinds.Add(Nemeses.Kinds[random.Next(Nemeses.Kinds.Count)]);
            }

            var active = new List<ActiveFault>();
            var used = new HashSet<int>();
            foreach (var kind in kinds)
            {
                var target = nemeses.FixedTarget(kind) ?? Enumerable.Range(0, cluster.Count).Where(i => !used.Contains(i)).OrderBy(_ => random.Next()).FirstOrDefault(-1);
                if (target < 0 || !used.Add(target))
                {
                    continue;
                }

                var fault = await nemeses.StartAsync(kind, target);
                active.Add(fault);
                log($"{clock.Elapsed.TotalSeconds,6:0.0}s start {fault.Kind} on {fault.Target}");
            }

            await Task.Delay(settings.Hold, cancellationToken);
            foreach (var fault in active)
            {
                var detail = await fault.HealAsync();
                var record = new FaultRecord(fault.Kind, fault.Target, fault.StartMs, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), detail);
                faults.Add(record);
                JsonLines.Append(faultsPath, record);
                log($"{clock.Elapsed.TotalSeconds,6:0.0}s heal  {fault.Kind} on {fault.Target}: {detail}");
            }

            await cluster.Network.HealAsync();
            var restarted = await nemeses.RestartExitedAsync(cancellationToken);
            if (restarted.Length > 0)
            {
                log($"{clock.Elapsed.TotalSeconds,6:0.0}s {restarted}");
            }

            await Task.Delay(settings.Gap, cancellationToken);
        }
    }

    private static void KeepFiles(ChaosCluster cluster, string files)
    {
        var keep = Environment.GetEnvironmentVariable(ChaosEnvironment.LogFolderVariable);
        if (string.IsNullOrEmpty(keep))
        {
            return;
        }

        var folder = Path.Combine(keep, "chaos-" + DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture));
        cluster.KeepLogs(Path.Combine(folder, "logs"));
        foreach (var file in Directory.EnumerateFiles(files))
        {
            File.Copy(file, Path.Combine(folder, Path.GetFileName(file)), overwrite: true);
        }
    }
}

/// <summary>The environment variables of the fault-injection suite.</summary>
internal static class ChaosEnvironment
{
    /// <summary>Minutes of a long campaign (5 members); unset: the long campaign is skipped.</summary>
    public const string MinutesVariable = "LEDGER_CHAOS_MINUTES";

    /// <summary>File the long campaign writes its summary to (default: chaos-summary.txt in the working folder).</summary>
    public const string SummaryFileVariable = "LEDGER_CHAOS_SUMMARY";

    /// <summary>Seed of the run (default: a fresh one, printed).</summary>
    public const string SeedVariable = "LEDGER_CHAOS_SEED";

    /// <summary>Folder where each run's history, checkpoints, faults, summary and process logs are kept.</summary>
    public const string LogFolderVariable = "LEDGER_CHAOS_LOG_DIR";

    /// <summary>The seed from <c>LEDGER_CHAOS_SEED</c>, else <paramref name="defaultSeed"/>, else a fresh one.</summary>
    public static int Seed(int? defaultSeed = null)
    {
        var text = Environment.GetEnvironmentVariable(SeedVariable);
        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var seed) ? seed : defaultSeed ?? Random.Shared.Next(1, int.MaxValue);
    }

    public static string Describe(ChaosOutcome outcome)
    {
        var text = new StringBuilder(outcome.Summary);
        text.Append(CultureInfo.InvariantCulture, $"faults in order ({outcome.Faults.Count}):\n");
        foreach (var fault in outcome.Faults)
        {
            text.Append(CultureInfo.InvariantCulture, $"  {fault.Kind} on {fault.Target} for {(fault.StopMs - fault.StartMs) / 1000.0:0.0} s: {fault.Detail}\n");
        }

        text.Append(CultureInfo.InvariantCulture, $"members that exited on their own: {outcome.Exits.Count}\n");
        foreach (var exit in outcome.Exits)
        {
            text.Append("  ").Append(exit).Append('\n');
        }

        return text.ToString();
    }
}
