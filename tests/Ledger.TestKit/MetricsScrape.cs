using System.Globalization;

namespace Ledger.TestKit;

/// <summary>Reads a node's /metrics answer (the Prometheus text format).</summary>
public static class MetricsScrape
{
    /// <summary>
    /// The value of the one sample of <paramref name="metric"/> whose labels contain every one of
    /// <paramref name="labels"/> (written as in the scrape, e.g. <c>reason="stale"</c>); throws unless there is exactly one.
    /// </summary>
    public static double Sample(string scrape, string metric, params string[] labels)
    {
        var lines = scrape.Split('\n')
            .Where(line => line.StartsWith(metric + "{", StringComparison.Ordinal) && labels.All(label => line.Contains(label, StringComparison.Ordinal)))
            .ToList();
        if (lines.Count != 1)
        {
            throw new InvalidOperationException($"{metric} {string.Join(' ', labels)}: {lines.Count} samples in\n{scrape}");
        }

        return double.Parse(lines[0][(lines[0].LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
    }
}
