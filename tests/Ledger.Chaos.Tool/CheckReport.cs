using System.Globalization;
using System.Text;

namespace Ledger.Chaos.Tool;

/// <summary>What the checker found: problems (each a sentence), counts of what it checked, and the run's numbers.</summary>
internal sealed class CheckReport
{
    /// <summary>Problems listed one by one; more are counted.</summary>
    public const int ProblemsListedMax = 200;

    private readonly List<string> _problems = [];
    private readonly SortedDictionary<string, long> _checks = new(StringComparer.Ordinal);

    public IReadOnlyList<string> Problems => _problems;

    /// <summary>Problems found, listed or not.</summary>
    public int ProblemCount { get; private set; }

    public IReadOnlyDictionary<string, long> Checks => _checks;

    /// <summary>Acknowledged digests that are not in the final log.</summary>
    public int Lost { get; set; }

    public int DigestsAcknowledged { get; set; }

    public int UnknownDigestsInLog { get; set; }

    public int UnknownDigestsNotInLog { get; set; }

    public int RefusedDigestsInLog { get; set; }

    public ulong FinalTreeSize { get; set; }

    public int MembersAtFinalTree { get; set; }

    public SortedDictionary<string, int> RequestsByOutcome { get; } = new(StringComparer.Ordinal);

    public SortedDictionary<string, int> FaultsByKind { get; } = new(StringComparer.Ordinal);

    public bool Passed => ProblemCount == 0 && Lost == 0;

    public void Problem(string text)
    {
        ProblemCount++;
        if (_problems.Count < ProblemsListedMax)
        {
            _problems.Add(text);
        }
    }

    /// <summary>Counts one more check of a kind (whatever its result).</summary>
    public void Checked(string kind, long count = 1) => _checks[kind] = _checks.GetValueOrDefault(kind) + count;

    public string ToText()
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"chaos summary: {(Passed ? "PASSED" : "FAILED")}\n");
        text.Append(CultureInfo.InvariantCulture, $"faults injected: {FaultsByKind.Values.Sum()} ({Join(FaultsByKind)})\n");
        text.Append(CultureInfo.InvariantCulture, $"requests: {RequestsByOutcome.Values.Sum()} ({Join(RequestsByOutcome)})\n");
        text.Append(CultureInfo.InvariantCulture, $"digests acknowledged: {DigestsAcknowledged}\n");
        text.Append(CultureInfo.InvariantCulture, $"digests lost: {Lost}\n");
        text.Append(CultureInfo.InvariantCulture, $"unknown-outcome digests: {UnknownDigestsInLog} in the log once, {UnknownDigestsNotInLog} not in the log\n");
        text.Append(CultureInfo.InvariantCulture, $"refused digests found in the log anyway (a retry of an unanswered try): {RefusedDigestsInLog}\n");
        text.Append(CultureInfo.InvariantCulture, $"final tree: size {FinalTreeSize}, the same on {MembersAtFinalTree} members\n");
        text.Append("checks run:\n");
        foreach (var (kind, count) in _checks)
        {
            text.Append(CultureInfo.InvariantCulture, $"  {kind}: {count}\n");
        }

        text.Append(CultureInfo.InvariantCulture, $"problems: {ProblemCount}\n");
        foreach (var problem in _problems)
        {
            text.Append("  - ").Append(problem).Append('\n');
        }

        if (ProblemCount > _problems.Count)
        {
            text.Append(CultureInfo.InvariantCulture, $"  ... and {ProblemCount - _problems.Count} more\n");
        }

        return text.ToString();
    }

    private static string Join(SortedDictionary<string, int> counts) =>
        counts.Count == 0 ? "none" : string.Join(", ", counts.Select(pair => $"{pair.Key} {pair.Value}"));
}
