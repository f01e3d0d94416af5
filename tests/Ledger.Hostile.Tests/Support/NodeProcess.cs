using System.Diagnostics;
using System.Globalization;
using Ledger.TestKit;

namespace Ledger.Hostile.Tests.Support;

/// <summary>
/// One running <c>ledger-node</c> (<c>dotnet ledger-node.dll ...</c>) with the latest lines of its output
/// kept. Killed with SIGKILL at dispose; paused with SIGSTOP; its resident memory read from /proc.
/// </summary>
internal sealed class NodeProcess : IDisposable
{
    private const int OutputLinesMax = 2_000;

    private readonly Process _process;
    private readonly Queue<string> _lines = new();
    private readonly Lock _lock = new();

    private NodeProcess(Process process, string label)
    {
        _process = process;
        Label = label;
    }

    public string Label { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public static NodeProcess Start(IEnumerable<string> args, string workingDirectory, string label)
    {
        var info = ProcessRunner.StartInfo("dotnet", [RepositoryPaths.ProgramDll("node/Ledger.Node", "ledger-node"), .. args], workingDirectory);
        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment["Logging__Console__FormatterName"] = "simple";
        info.Environment["Logging__Console__FormatterOptions__SingleLine"] = "true";
        info.Environment["Logging__Console__FormatterOptions__ColorBehavior"] = "Disabled";
        var process = new Process { StartInfo = info };
        var node = new NodeProcess(process, label);
        process.OutputDataReceived += (_, e) => node.Append(e.Data);
        process.ErrorDataReceived += (_, e) => node.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return node;
    }

    /// <summary>Resident memory (VmRSS) of the process in bytes, read from /proc.</summary>
    public long ResidentBytes()
    {
        foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                var kib = line["VmRSS:".Length..].Trim().Split(' ')[0];
                return long.Parse(kib, CultureInfo.InvariantCulture) * 1024;
            }
        }

        throw new InvalidOperationException($"no VmRSS line for process {_process.Id}");
    }

    /// <summary>Open file descriptors of the process (sockets included).</summary>
    public int OpenDescriptors() => Directory.GetFiles($"/proc/{_process.Id}/fd").Length;

    public IReadOnlyList<string> Tail(int count)
    {
        lock (_lock)
        {
            return [.. _lines.Skip(Math.Max(0, _lines.Count - count))];
        }
    }

    public bool HasPrinted(string text)
    {
        lock (_lock)
        {
            return _lines.Any(line => line.Contains(text, StringComparison.OrdinalIgnoreCase));
        }
    }

    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
    }

    /// <summary>SIGSTOP (pause) or SIGCONT (resume).</summary>
    public async Task SignalAsync(string signal, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo("kill") { UseShellExecute = false };
        info.ArgumentList.Add(signal);
        info.ArgumentList.Add(_process.Id.ToString(CultureInfo.InvariantCulture));
        using var kill = Process.Start(info) ?? throw new InvalidOperationException("could not run kill");
        await kill.WaitForExitAsync(cancellationToken);
        Assert.Equal(0, kill.ExitCode);
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

            _lines.Enqueue($"{DateTime.UtcNow:HH:mm:ss.fff} {line}");
        }
    }
}
