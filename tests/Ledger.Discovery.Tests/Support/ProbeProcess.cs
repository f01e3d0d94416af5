using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Ledger.TestKit;

namespace Ledger.Discovery.Tests.Support;

/// <summary>One Ledger.Discovery.Probe process inside a network namespace, its JSON lines collected as they come.</summary>
internal sealed class ProbeProcess : IAsyncDisposable
{
    private const int LinesMax = 100_000;
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    private readonly Process _process;
    private readonly Lock _gate = new();
    private readonly List<JsonElement> _lines = [];
    private readonly StringBuilder _errors = new();

    private ProbeProcess(string name, Process process)
    {
        Name = name;
        _process = process;
    }

    /// <summary>A name for messages (e.g. "a in ledger-disc-1a2b3c4d").</summary>
    public string Name { get; }

    /// <summary>Starts <c>ip netns exec NAMESPACE dotnet probe.dll ARGS</c>.</summary>
    public static ProbeProcess Start(string name, string networkNamespace, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo("ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment[ProcessRunner.NoDiagnosticsVariable] = "0";
        foreach (var argument in new[] { "netns", "exec", networkNamespace, "dotnet", ProbePath() }.Concat(arguments))
        {
            start.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = start };
        var probe = new ProbeProcess($"{name} in {networkNamespace}", process);
        process.OutputDataReceived += (_, e) => probe.OnOutput(e.Data);
        process.ErrorDataReceived += (_, e) => probe.OnError(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return probe;
    }

    /// <summary>The JSON lines printed so far.</summary>
    public IReadOnlyList<JsonElement> Lines
    {
        get
        {
            lock (_gate)
            {
                return [.. _lines];
            }
        }
    }

    /// <summary>The "peer" lines printed so far.</summary>
    public IReadOnlyList<SeenPeer> Peers =>
        [.. Lines.Where(line => line.GetProperty("event").GetString() == "peer").Select(SeenPeer.From)];

    /// <summary>The interfaces the probe said it runs on (waits for its "started" line).</summary>
    public async Task<string[]> StartedInterfacesAsync(TimeSpan deadline)
    {
        await WaitUntilAsync(probe => probe.Lines.Any(IsStarted), deadline, "its started line");
        var started = Lines.First(IsStarted);
        return [.. started.GetProperty("interfaces").EnumerateArray().Select(name => name.GetString()!)];
    }

    /// <summary>Waits until <paramref name="condition"/> holds, or fails with the probe's output after <paramref name="deadline"/>.</summary>
    public async Task WaitUntilAsync(Func<ProbeProcess, bool> condition, TimeSpan deadline, string what)
    {
        var attempts = (int)(deadline / PollInterval);
        for (var attempt = 0; attempt < attempts; attempt++)
        {
            if (condition(this))
            {
                return;
            }

            if (_process.HasExited)
            {
                break;
            }

            await Task.Delay(PollInterval);
        }

        if (!condition(this))
        {
            throw new TimeoutException($"{Name} did not reach: {what}\n{Describe()}");
        }
    }

    /// <summary>Everything the probe printed, for failure messages.</summary>
    public string Describe()
    {
        lock (_gate)
        {
            var lines = string.Join('\n', _lines.Select(line => line.GetRawText()));
            var exited = _process.HasExited ? $"exited {_process.ExitCode}" : "running";
            return $"--- {Name} ({exited}) stdout:\n{lines}\n--- stderr:\n{_errors}";
        }
    }

    /// <summary>Kills the probe (and anything it started) if it still runs.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (InvalidOperationException)
        {
            // Never started.
        }
        finally
        {
            _process.Dispose();
        }
    }

    private static bool IsStarted(JsonElement line) => line.GetProperty("event").GetString() == "started";

    private void OnOutput(string? line)
    {
        if (string.IsNullOrWhiteSpace(line) || !line.StartsWith('{'))
        {
            return;
        }

        using var document = JsonDocument.Parse(line);
        lock (_gate)
        {
            if (_lines.Count < LinesMax)
            {
                _lines.Add(document.RootElement.Clone());
            }
        }
    }

    private void OnError(string? line)
    {
        lock (_gate)
        {
            if (line is not null && _errors.Length < 1_000_000)
            {
                _errors.AppendLine(line);
            }
        }
    }

    private static string ProbePath()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Ledger.sln")))
        {
            directory = directory.Parent;
        }

        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
            ? "Release"
            : "Debug";
        var path = Path.Combine(
            directory?.FullName ?? throw new DirectoryNotFoundException("Ledger.sln not found above " + AppContext.BaseDirectory),
            "tests", "Ledger.Discovery.Probe", "bin", configuration, "net10.0", "Ledger.Discovery.Probe.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException("build tests/Ledger.Discovery.Probe first", path);
    }
}

/// <summary>One "peer" line of a probe.</summary>
internal sealed record SeenPeer(string Origin, string Member, string[] Addresses, int Port)
{
    public static SeenPeer From(JsonElement line) =>
        new(
            line.GetProperty("origin").GetString()!,
            line.GetProperty("member").GetString()!,
            [.. line.GetProperty("addresses").EnumerateArray().Select(address => address.GetString()!)],
            line.GetProperty("port").GetInt32());
}
