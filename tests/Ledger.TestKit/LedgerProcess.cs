using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Ledger.TestKit;

/// <summary>
/// One running program of the repository (<c>dotnet program.dll ...</c>, such as <c>ledger-node</c>),
/// optionally under a command prefix such as <c>ip netns exec NS</c> (ip execs in place, so the process
/// is still the program itself). Its stdout and stderr are captured, interleaved as they arrive, in a
/// bounded buffer of lines: the oldest lines are dropped and counted. Killed with SIGKILL at dispose,
/// stopped with SIGTERM, paused with SIGSTOP and resumed with SIGCONT.
/// </summary>
public sealed class LedgerProcess : IDisposable
{
    /// <summary>Lines of output kept unless the caller chooses another bound.</summary>
    public const int DefaultOutputLinesMax = 4_000;

    /// <summary>How long kill(1) may take to deliver a signal.</summary>
    private static readonly TimeSpan SignalDeadline = TimeSpan.FromSeconds(30);

    /// <summary>How often <see cref="TryWaitForLineAsync"/> looks at the captured output.</summary>
    private static readonly TimeSpan LinePollInterval = TimeSpan.FromMilliseconds(50);

    private readonly Process _process;
    private readonly int _outputLinesMax;
    private readonly Queue<string> _lines = new();
    private readonly Lock _lock = new();
    private long _droppedLines;
    private volatile bool _paused;

    private LedgerProcess(Process process, string label, int outputLinesMax)
    {
        _process = process;
        _outputLinesMax = outputLinesMax;
        Label = label;
    }

    /// <summary>A name for messages, such as the member name and its start number.</summary>
    public string Label { get; }

    /// <summary>The process id (of the program itself, also under an exec-in-place prefix).</summary>
    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>True between <see cref="PauseAsync"/> and <see cref="ResumeAsync"/> (or <see cref="Kill"/>).</summary>
    public bool IsPaused => _paused;

    /// <summary>The exit code, once <see cref="HasExited"/>.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>
    /// Starts <c>[commandPrefix...] dotnet dll arguments...</c> in <paramref name="workingDirectory"/>, keeping
    /// the latest <paramref name="outputLinesMax"/> lines of output. Console logs are asked for without colour
    /// codes, one line per entry.
    /// </summary>
    public static LedgerProcess Start(
        string dll,
        IEnumerable<string> arguments,
        string workingDirectory,
        string label,
        int outputLinesMax = DefaultOutputLinesMax,
        IReadOnlyList<string>? commandPrefix = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outputLinesMax);
        string[] command = [.. commandPrefix ?? [], "dotnet", dll, .. arguments];
        var info = ProcessRunner.StartInfo(command[0], command[1..], workingDirectory);
        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment["Logging__Console__FormatterName"] = "simple";
        info.Environment["Logging__Console__FormatterOptions__SingleLine"] = "true";
        info.Environment["Logging__Console__FormatterOptions__ColorBehavior"] = "Disabled";

        var process = new Process { StartInfo = info };
        var started = new LedgerProcess(process, label, outputLinesMax);
        process.OutputDataReceived += (_, e) => started.Append("out", e.Data);
        process.ErrorDataReceived += (_, e) => started.Append("err", e.Data);
        try
        {
            process.Start();
        }
        catch
        {
            process.Dispose();
            throw;
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return started;
    }

    /// <summary>The captured output, stdout and stderr interleaved as they arrived, each line indented.</summary>
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

    /// <summary>The last <paramref name="count"/> captured lines as one text, each line indented, for messages.</summary>
    public string TailText(int count) => string.Join('\n', Tail(count).Select(line => "    " + line));

    /// <summary>Lines containing <paramref name="text"/> (ordinal, case-insensitive).</summary>
    public IReadOnlyList<string> LinesContaining(string text)
    {
        lock (_lock)
        {
            return [.. _lines.Where(line => line.Contains(text, StringComparison.OrdinalIgnoreCase))];
        }
    }

    /// <summary>Whether a kept line contains <paramref name="text"/> (ordinal, case-insensitive).</summary>
    public bool HasPrinted(string text)
    {
        lock (_lock)
        {
            return _lines.Any(line => line.Contains(text, StringComparison.OrdinalIgnoreCase));
        }
    }

    /// <summary>Waits until a line contains <paramref name="text"/>; false when the process exits first or the time is up.</summary>
    public async Task<bool> TryWaitForLineAsync(string text, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (HasPrinted(text))
            {
                return true;
            }

            if (_process.HasExited)
            {
                return HasPrinted(text);
            }

            await Task.Delay(LinePollInterval, cancellationToken);
        }

        return false;
    }

    /// <summary>
    /// Waits until a line contains <paramref name="text"/>; throws <see cref="InvalidOperationException"/> when the
    /// process exits first and <see cref="TimeoutException"/> when the time is up.
    /// </summary>
    public async Task WaitForLineAsync(string text, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (await TryWaitForLineAsync(text, timeout, cancellationToken))
        {
            return;
        }

        throw _process.HasExited
            ? new InvalidOperationException($"{Label} exited with {_process.ExitCode} before printing '{text}'")
            : new TimeoutException($"{Label} did not print '{text}' within {timeout}");
    }

    /// <summary>Waits until the process exits on its own; returns its exit code. Throws <see cref="TimeoutException"/> when the time is up.</summary>
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

    /// <summary>SIGKILL of the process tree, like kill -9: no shutdown code runs (a paused process dies too). Waits until it is gone.</summary>
    public void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit();
            }
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped.
        }

        _paused = false;
    }

    /// <summary>SIGTERM, as an operator's stop: the program runs its shutdown code; waits until it exits.</summary>
    public async Task TerminateAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        await SignalAsync("-TERM", cancellationToken);
        await WaitForExitAsync(timeout, cancellationToken);
    }

    /// <summary>SIGSTOP: the process stays alive but runs nothing (its sockets stay open).</summary>
    public async Task PauseAsync(CancellationToken cancellationToken)
    {
        _paused = true;
        await SignalAsync("-STOP", cancellationToken);
    }

    /// <summary>SIGCONT after <see cref="PauseAsync"/>.</summary>
    public async Task ResumeAsync(CancellationToken cancellationToken)
    {
        await SignalAsync("-CONT", cancellationToken);
        _paused = false;
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }

    private async Task SignalAsync(string signal, CancellationToken cancellationToken)
    {
        if (_process.HasExited)
        {
            throw new InvalidOperationException($"{Label} has exited; it cannot get {signal}");
        }

        var id = _process.Id.ToString(CultureInfo.InvariantCulture);
        var result = await ProcessRunner.RunAsync("kill", [signal, id], workingDirectory: null, SignalDeadline, cancellationToken);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill {signal} {id} failed: {result}");
        }
    }

    private void Append(string stream, string? line)
    {
        if (line is null)
        {
            return;
        }

        var stamped = string.Create(CultureInfo.InvariantCulture, $"{DateTime.UtcNow:HH:mm:ss.fff} {stream}: {line}");
        lock (_lock)
        {
            if (_lines.Count >= _outputLinesMax)
            {
                _lines.Dequeue();
                _droppedLines++;
            }

            _lines.Enqueue(stamped);
        }
    }
}
