using System.Diagnostics;

namespace Ledger.TestKit;

/// <summary>The outcome of running a program to completion.</summary>
public sealed record ProcessResult(int ExitCode, string StandardOutput, string StandardError)
{
    public override string ToString() => $"exit {ExitCode}\nstdout:\n{StandardOutput}\nstderr:\n{StandardError}";
}

/// <summary>Runs the project's real programs (through `dotnet program.dll`) with a deadline.</summary>
public static class ProcessRunner
{
    /// <summary>How long one program run may take before it is killed.</summary>
    public static readonly TimeSpan DefaultDeadline = TimeSpan.FromSeconds(120);

    /// <summary>Runs the `ledger` command-line tool.</summary>
    public static Task<ProcessResult> RunLedgerAsync(params string[] arguments) =>
        RunDotnetAsync(RepositoryPaths.ProgramDll("client-sdk/Ledger.Cli", "ledger"), arguments, workingDirectory: null);

    /// <summary>The runtime setting that turns off a .NET process's debugger, profiler and diagnostics socket.</summary>
    public const string NoDiagnosticsVariable = "DOTNET_EnableDiagnostics";

    /// <summary>How to start <paramref name="fileName"/> with <paramref name="arguments"/>, output and errors redirected.</summary>
    public static ProcessStartInfo StartInfo(string fileName, IEnumerable<string> arguments, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };

        // Tests kill many of the programs they start (kill -9), and a .NET process killed so leaves
        // its diagnostics socket behind (/tmp/dotnet-diagnostic-<pid>-...-socket). No test attaches a
        // debugger or a diagnostics tool to them; the variable reaches what they start in turn.
        start.Environment[NoDiagnosticsVariable] = "0";
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return start;
    }

    /// <summary>Runs `dotnet dll arguments...` and waits for it to exit.</summary>
    public static Task<ProcessResult> RunDotnetAsync(string dll, IEnumerable<string> arguments, string? workingDirectory, TimeSpan? deadline = null) =>
        RunAsync("dotnet", [dll, .. arguments], workingDirectory, deadline ?? DefaultDeadline);

    /// <summary>
    /// Runs <paramref name="fileName"/> with <paramref name="arguments"/> and waits for it to exit; kills it
    /// and throws <see cref="TimeoutException"/> when <paramref name="deadline"/> passes first.
    /// </summary>
    public static async Task<ProcessResult> RunAsync(
        string fileName, IReadOnlyList<string> arguments, string? workingDirectory, TimeSpan deadline, CancellationToken cancellationToken = default)
    {
        var start = StartInfo(fileName, arguments, workingDirectory);

        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start " + fileName);
        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(deadline);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            cancellationToken.ThrowIfCancellationRequested();
            throw new TimeoutException($"{fileName} {string.Join(' ', arguments)} did not finish in time");
        }

        return new ProcessResult(process.ExitCode, await stdout, await stderr);
    }
}
