using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ledger.Chaos.Tool;

/// <summary>What became of one anchor request.</summary>
internal static class Outcomes
{
    /// <summary>The node answered with a leaf index per digest: the digests must be in the log, once.</summary>
    public const string Acknowledged = "acknowledged";

    /// <summary>The node answered with an error that says it did not take the request (a precise status).</summary>
    public const string Refused = "refused";

    /// <summary>No answer (deadline, connection lost): the digests may be in the log once, or not at all.</summary>
    public const string Unknown = "unknown";
}

/// <summary>One anchor request of the workload: one line of the history file.</summary>
/// <param name="Issuer">Issuer id.</param>
/// <param name="Digests">The digests sent, lower-case hex.</param>
/// <param name="Outcome">One of <see cref="Outcomes"/>.</param>
/// <param name="LeafIndices">Per digest, the leaf the node answered (acknowledged requests only).</param>
/// <param name="StartMs">Unix milliseconds when the request was sent.</param>
/// <param name="EndMs">Unix milliseconds when its outcome was known.</param>
/// <param name="Detail">The status of a refused or unknown request.</param>
internal sealed record HistoryRecord(string Issuer, IReadOnlyList<string> Digests, string Outcome, IReadOnlyList<ulong> LeafIndices, long StartMs, long EndMs, string Detail);

/// <summary>A fault the harness injected: one line of the faults file.</summary>
/// <param name="Kind">e.g. <c>kill</c>, <c>pause</c>, <c>partition-isolate</c>.</param>
/// <param name="Target">The members (or link) it hit.</param>
/// <param name="StartMs">Unix milliseconds when it began.</param>
/// <param name="StopMs">Unix milliseconds when it was healed.</param>
/// <param name="Detail">What exactly was done and what was seen.</param>
internal sealed record FaultRecord(string Kind, string Target, long StartMs, long StopMs, string Detail);

/// <summary>A signed checkpoint a member served during the run: one line of the checkpoints file.</summary>
/// <param name="Source">The member that served it.</param>
/// <param name="AtMs">Unix milliseconds when it was collected.</param>
/// <param name="Text">The signed note.</param>
internal sealed record CheckpointRecord(string Source, long AtMs, string Text);

/// <summary>Reading and writing the JSON-lines files the workload, the harness and the checker share.</summary>
internal static class JsonLines
{
    /// <summary>Lines read from one file at most.</summary>
    public const int LinesMax = 2_000_000;

    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public static string Line<T>(T record) => JsonSerializer.Serialize(record, Options);

    /// <summary>Every record of a JSON-lines file; a missing file is empty. A line that does not parse is an error.</summary>
    public static IReadOnlyList<T> Read<T>(string? path)
    {
        if (string.IsNullOrEmpty(path) || !File.Exists(path))
        {
            return [];
        }

        var records = new List<T>();
        var number = 0;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            if (number > LinesMax)
            {
                throw new InvalidDataException($"{path} has more than {LinesMax} lines");
            }

            if (line.Length == 0)
            {
                continue;
            }

            records.Add(JsonSerializer.Deserialize<T>(line, Options) ?? throw new InvalidDataException($"{path}:{number}: null record"));
        }

        return records;
    }

    /// <summary>Appends one record (a whole line) to a file.</summary>
    public static void Append<T>(string path, T record) => File.AppendAllText(path, Line(record) + "\n");
}

/// <summary>A line-at-a-time writer shared by concurrent loops; every line is flushed at once (a killed run keeps what it wrote).</summary>
internal sealed class JsonLinesWriter : IDisposable
{
    private readonly StreamWriter _writer;
    private readonly Lock _lock = new();

    public JsonLinesWriter(string path) => _writer = new StreamWriter(path, append: true) { AutoFlush = true };

    public void Write<T>(T record)
    {
        var line = JsonLines.Line(record);
        lock (_lock)
        {
            _writer.WriteLine(line);
        }
    }

    public void Dispose() => _writer.Dispose();
}
