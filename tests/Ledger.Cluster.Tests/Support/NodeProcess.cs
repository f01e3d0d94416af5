using Ledger.TestKit;
using System.Diagnostics;
using System.Text;

namespace Ledger.Cluster.Tests.Support;

/// <summary>
/// One running <c>ledger-node</c> (<c>dotnet ledger-node.dll ...</c>) with its output captured (the latest
/// <see cref="OutputLinesMax"/> lines). Killed with SIGKILL at dispose, paused with SIGSTOP.
/// </summary>
internal sealed class NodeProcess : IDisposable
{
    /// <summary>Lines of output kept per process; older lines are dropped (and counted).</summary>
    public const int OutputLinesMax = 4_000;

    private static readonly TimeSpan SignalDeadline = TimeSpan.FromSeconds(10);

    private readonly Process _process;
    private readonly Queue<string> _lines = new();
    private readonly Lock _lock = new();
    private long _droppedLines;
    private bool _paused;

    private NodeProcess(Process process, string label)
    {
        _process = process;
        Label = label;
    }

    /// <summary>Member name and start number, for messages.</summary>
    public string Label { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public bool IsPaused => _paused;

    /// <summary>The exit code, once <see cref="HasExited"/>.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>Waits until the process exits on its own; returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await _process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"{Label} did not exit within {timeout}");
        }

        return _process.ExitCode;
    }

    /// <summary>Starts <c>dotnet dll args</c> in <paramref name="workingDirectory"/>.</summary>
    public static NodeProcess Start(string dll, IEnumerable<string> args, string workingDirectory, string label)
    {
        var info = ProcessRunner.StartInfo("dotnet", [dll, .. args], workingDirectory);

        // Console logs without colour codes, one line per entry.
        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment["Logging__Console__FormatterName"] = "simple";
        info.Environment["Logging__Console__FormatterOptions__SingleLine"] = "true";
        info.Environment["Logging__Console__FormatterOptions__ColorBehavior"] = "Disabled";
        var process = new Process { StartInfo = info };
        var node = new NodeProcess(process, label);
        process.OutputDataReceived += (_, e) => node.Append("out", e.Data);
        process.ErrorDataReceived += (_, e) => node.Append("err", e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return node;
    }

    /// <summary>The captured output, stdout and stderr interleaved as they arrived.</summary>
    public string Output
    {
        get
        {
            lock (_lock)
            {
                var text = new StringBuilder();
                if (_droppedLines > 0)
                {
                    text.Append("  [").Append(_droppedLines).Append(" earlier lines dropped]\n");
                }

                foreach (var line in _lines)
                {
                    text.Append("  ").Append(line).Append('\n');
                }

                return text.ToString();
            }
        }
    }

    /// <summary>The last <paramref name="count"/> captured lines.</summary>
    public IReadOnlyList<string> Tail(int count)
    {
        lock (_lock)
        {
            return [.. _lines.Skip(Math.Max(0, _lines.Count - count))];
        }
    }

    /// <summary>Lines containing <paramref name="text"/> (ordinal, case-insensitive).</summary>
    public IReadOnlyList<string> LinesContaining(string text)
    {
        lock (_lock)
        {
            return [.. _lines.Where(line => line.Contains(text, StringComparison.OrdinalIgnoreCase))];
        }
    }

    /// <summary>Waits until a line contains <paramref name="text"/>; fails early when the process exits.</summary>
    public async Task WaitForLineAsync(string text, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (LinesContaining(text).Count > 0)
            {
                return;
            }

            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{Label} exited with {_process.ExitCode} before printing '{text}'");
            }

            await Task.Delay(50, cancellationToken);
        }

        throw new TimeoutException($"{Label} did not print '{text}' within {timeout}");
    }

    /// <summary>SIGKILL, like kill -9: no shutdown code runs. Resumes nothing; a stopped process dies too.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }

        _paused = false;
    }

    /// <summary>SIGTERM, as an operator's stop: the node runs its shutdown code; waits until it exits.</summary>
    public async Task TerminateAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        await SignalAsync("-TERM", cancellationToken);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        await _process.WaitForExitAsync(deadline.Token);
    }

    /// <summary>SIGSTOP: the process stays alive but runs nothing (its sockets stay open).</summary>
    public Task PauseAsync(CancellationToken cancellationToken)
    {
        _paused = true;
        return SignalAsync("-STOP", cancellationToken);
    }

    /// <summary>SIGCONT after <see cref="PauseAsync"/>.</summary>
    public async Task ResumeAsync(CancellationToken cancellationToken)
    {
        await SignalAsync("-CONT", cancellationToken);
        _paused = false;
    }

    public void Dispose()
    {
        try
        {
            Kill();
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped.
        }

        _process.Dispose();
    }

    private async Task SignalAsync(string signal, CancellationToken cancellationToken)
    {
        if (_process.HasExited)
        {
            throw new InvalidOperationException($"{Label} has exited; it cannot get {signal}");
        }

        var info = new ProcessStartInfo("kill") { UseShellExecute = false };
        info.ArgumentList.Add(signal);
        info.ArgumentList.Add(_process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var kill = Process.Start(info) ?? throw new InvalidOperationException("could not run kill");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(SignalDeadline);
        await kill.WaitForExitAsync(timeout.Token);
        if (kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill {signal} {_process.Id} exited with {kill.ExitCode}");
        }
    }

    private void Append(string stream, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lock)
        {
            if (_lines.Count >= OutputLinesMax)
            {
                _lines.Dequeue();
                _droppedLines++;
            }

            _lines.Enqueue($"{DateTime.UtcNow:HH:mm:ss.fff} {stream}: {line}");
        }
    }
}
