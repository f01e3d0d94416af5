using Ledger.TestKit;
using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Ledger.Node.Tests.Support;

/// <summary>A real program (<c>dotnet some.dll args</c>) with its output captured; killed (whole tree) at dispose.</summary>
internal sealed partial class RunningProgram : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly StringBuilder _error = new();
    private readonly Lock _lock = new();

    private RunningProgram(Process process)
    {
        _process = process;
    }

    public int Id => _process.Id;

    public string Output
    {
        get
        {
            lock (_lock)
            {
                return _output.ToString();
            }
        }
    }

    public string Error
    {
        get
        {
            lock (_lock)
            {
                return _error.ToString();
            }
        }
    }

    public static RunningProgram Start(string dll, IEnumerable<string> args, string workingDirectory, IDictionary<string, string>? environment = null)
    {
        var info = ProcessRunner.StartInfo("dotnet", [dll, .. args], workingDirectory);

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        var process = new Process { StartInfo = info };
        var program = new RunningProgram(process);
        process.OutputDataReceived += (_, e) => program.Append(program._output, e.Data);
        process.ErrorDataReceived += (_, e) => program.Append(program._error, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return program;
    }

    /// <summary>Runs to completion (or kills at the timeout and fails).</summary>
    public static async Task<(int ExitCode, string Output, string Error)> RunAsync(string dll, IEnumerable<string> args, string workingDirectory, TimeSpan timeout)
    {
        using var program = Start(dll, args, workingDirectory);
        using var cancel = new CancellationTokenSource(timeout);
        await program._process.WaitForExitAsync(cancel.Token);
        program._process.WaitForExit();
        return (program._process.ExitCode, program.Output, program.Error);
    }

    /// <summary>Waits for the node's "listening on" line and returns the address.</summary>
    public async Task<string> WaitForAddressAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var match = ListeningLine().Match(Output);
            if (match.Success)
            {
                return match.Groups[1].Value;
            }

            if (_process.HasExited)
            {
                throw new InvalidOperationException($"the program exited with {_process.ExitCode}: {Error}");
            }

            await Task.Delay(50);
        }

        throw new TimeoutException("no 'listening on' line: " + Output + Error);
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cancel.Token);
        _process.WaitForExit();
        return _process.ExitCode;
    }

    /// <summary>SIGKILL, like kill -9: no shutdown code runs.</summary>
    public void KillHard()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
    }

    public void Dispose()
    {
        try
        {
            KillHard();
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped.
        }

        _process.Dispose();
    }

    private void Append(StringBuilder target, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lock)
        {
            target.Append(line).Append('\n');
        }
    }

    [GeneratedRegex(@"listening on (\S+)")]
    private static partial Regex ListeningLine();
}
