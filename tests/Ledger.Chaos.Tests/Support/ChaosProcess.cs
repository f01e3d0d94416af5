using System.Diagnostics;
using System.Globalization;
using System.Text;
using Ledger.TestKit;

namespace Ledger.Chaos.Tests.Support;

/// <summary>
/// A program started with <c>ip netns exec NS dotnet program.dll ...</c> (ip execs in place, so the
/// process is the program itself), its output captured (the latest <see cref="OutputLinesMax"/> lines).
/// Killed with SIGKILL at dispose.
/// </summary>
internal sealed class ChaosProcess : IDisposable
{
    public const int OutputLinesMax = 3_000;

    private readonly Process _process;
    private readonly Queue<string> _lines = new();
    private readonly Lock _lock = new();

    private ChaosProcess(Process process, string label)
    {
        _process = process;
        Label = label;
    }

    public string Label { get; }

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public static ChaosProcess Start(string networkNamespace, string dll, IEnumerable<string> arguments, string workingDirectory, string label)
    {
        var info = ProcessRunner.StartInfo("ip", ["netns", "exec", networkNamespace, "dotnet", dll, .. arguments], workingDirectory);
        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment["Logging__Console__FormatterName"] = "simple";
        info.Environment["Logging__Console__FormatterOptions__SingleLine"] = "true";
        info.Environment["Logging__Console__FormatterOptions__ColorBehavior"] = "Disabled";
        var process = new Process { StartInfo = info };
        var started = new ChaosProcess(process, label);
        process.OutputDataReceived += (_, e) => started.Append(e.Data);
        process.ErrorDataReceived += (_, e) => started.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return started;
    }

    public string Output
    {
        get
        {
            lock (_lock)
            {
                return string.Join('\n', _lines);
            }
        }
    }

    public string Tail(int lines)
    {
        lock (_lock)
        {
            return string.Join('\n', _lines.Skip(Math.Max(0, _lines.Count - lines)).Select(line => "    " + line));
        }
    }

    public bool Printed(string text)
    {
        lock (_lock)
        {
            return _lines.Any(line => line.Contains(text, StringComparison.OrdinalIgnoreCase));
        }
    }

    /// <summary>Waits until a line contains <paramref name="text"/>; false when the process exits first or the time is up.</summary>
    public async Task<bool> WaitForLineAsync(string text, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (Printed(text))
            {
                return true;
            }

            if (_process.HasExited)
            {
                return Printed(text);
            }

            await Task.Delay(100, cancellationToken);
        }

        return false;
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            await _process.WaitForExitAsync(limit.Token);
            return _process.ExitCode;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"{Label} did not exit within {timeout.TotalSeconds:0} s");
        }
    }

    /// <summary>Sends a signal (<c>-STOP</c>, <c>-CONT</c>) with kill(1).</summary>
    public Task SignalAsync(string signal) =>
        Shell.RunAsync("kill", signal, _process.Id.ToString(CultureInfo.InvariantCulture));

    /// <summary>SIGKILL: no shutdown code runs (a stopped process dies too).</summary>
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
            // Already reaped.
        }
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }

    private void Append(string? line)
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
            }

            _lines.Enqueue(string.Create(CultureInfo.InvariantCulture, $"{DateTime.UtcNow:HH:mm:ss.fff} {line}"));
        }
    }
}
