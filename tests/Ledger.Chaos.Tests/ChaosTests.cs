using System.Globalization;
using Ledger.Chaos.Tests.Support;
using Xunit.Abstractions;

namespace Ledger.Chaos.Tests;

/// <summary>
/// Real members in network namespaces, a workload of concurrent issuers, every kind of fault, then the
/// checker: nothing acknowledged may be lost, nothing may be in the log twice, every checkpoint ever
/// served must be consistent with every other, and all members must end with the same tree.
/// </summary>
public sealed class ChaosTests(ITestOutputHelper output)
{
    /// <summary>
    /// The bounded run's seed unless <c>LEDGER_CHAOS_SEED</c> names another: with it, flipped bits in a
    /// table of the state store and a full disk failed a member's apply, and the member then died of an
    /// unhandled exception while shutting down (SIGABRT) instead of stopping cleanly.
    /// </summary>
    private const int BoundedRunSeed = 3;

    /// <summary>The bounded run of CI: every nemesis at least once on 3 members, about 5 minutes in all.</summary>
    [Fact]
    public async Task Three_members_survive_every_nemesis_with_nothing_lost()
    {
        var settings = new ChaosSettings(
            Members: 3,
            Seed: ChaosEnvironment.Seed(BoundedRunSeed),
            FaultPhase: TimeSpan.FromSeconds(150),
            Hold: TimeSpan.FromSeconds(5),
            Gap: TimeSpan.FromSeconds(2),
            Issuers: 3,
            EveryKindFirst: true);
        var outcome = await RunAsync(settings, TimeSpan.FromMinutes(9));

        Assert.All(Support.Nemeses.Kinds, kind => Assert.Contains(outcome.Faults, fault => fault.Kind == kind));
        AssertPassed(outcome);
    }

    /// <summary>
    /// The long campaign: <c>LEDGER_CHAOS_MINUTES</c> minutes on 5 members, the summary written to
    /// <c>LEDGER_CHAOS_SUMMARY</c>. Reported as skipped when the variable is not set.
    /// </summary>
    [LongCampaignFact]
    public async Task A_long_campaign_on_five_members_when_asked_for()
    {
        var minutes = LongCampaignFactAttribute.Minutes()
            ?? throw new InvalidOperationException($"{ChaosEnvironment.MinutesVariable} must be a positive number of minutes");

        var settings = new ChaosSettings(
            Members: 5,
            Seed: ChaosEnvironment.Seed(),
            FaultPhase: TimeSpan.FromMinutes(minutes),
            Hold: TimeSpan.FromSeconds(8),
            Gap: TimeSpan.FromSeconds(4),
            Issuers: 4,
            EveryKindFirst: true);
        var outcome = await RunAsync(settings, settings.FaultPhase + Support.ChaosRun.CheckerTimeout(settings.FaultPhase) + TimeSpan.FromMinutes(15));
        var summaryFile = Environment.GetEnvironmentVariable(ChaosEnvironment.SummaryFileVariable);
        // The seed is kept with the verdict: a passing test's output, where it is printed first, is not shown.
        await File.WriteAllTextAsync(string.IsNullOrEmpty(summaryFile) ? "chaos-summary.txt" : summaryFile,
            $"{minutes} minutes of faults, seed {settings.Seed} ({ChaosEnvironment.SeedVariable} replays it)\n" + ChaosEnvironment.Describe(outcome));
        AssertPassed(outcome);
    }

    private async Task<ChaosOutcome> RunAsync(ChaosSettings settings, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        var outcome = await ChaosRun.RunAsync(settings, output.WriteLine, deadline.Token);
        output.WriteLine(ChaosEnvironment.Describe(outcome));
        return outcome;
    }

    private static void AssertPassed(ChaosOutcome outcome)
    {
        Assert.True(outcome.CheckerExitCode == 0, $"the checker found problems:\n{ChaosEnvironment.Describe(outcome)}\n{outcome.Logs}");
        Assert.Contains("digests lost: 0\n", outcome.Summary, StringComparison.Ordinal);
        Assert.True(outcome.UnexpectedExits.Count == 0, $"members crashed:\n{string.Join('\n', outcome.UnexpectedExits)}\n{outcome.Logs}");
    }
}

/// <summary>A fact that runs only when <c>LEDGER_CHAOS_MINUTES</c> asks for a long campaign, and is reported as skipped otherwise.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class LongCampaignFactAttribute : FactAttribute
{
    public LongCampaignFactAttribute()
    {
        if (Minutes() is null)
        {
            Skip = $"the long campaign runs when {ChaosEnvironment.MinutesVariable} is set to a number of minutes (docs/fault-injection.md)";
        }
    }

    public static int? Minutes() =>
        int.TryParse(Environment.GetEnvironmentVariable(ChaosEnvironment.MinutesVariable), NumberStyles.Integer, CultureInfo.InvariantCulture, out var minutes) && minutes > 0
            ? minutes
            : null;
}
