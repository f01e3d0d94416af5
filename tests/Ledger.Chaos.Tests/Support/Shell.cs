using Ledger.TestKit;

namespace Ledger.Chaos.Tests.Support;

/// <summary>Runs the system tools the harness drives (ip, iptables, tc, mount, kill) with a deadline.</summary>
internal static class Shell
{
    private static readonly TimeSpan CommandDeadline = TimeSpan.FromSeconds(30);

    /// <summary>Runs a command; throws with its output when it fails.</summary>
    public static async Task<string> RunAsync(string fileName, params string[] arguments)
    {
        var (exitCode, output) = await TryRunAsync(fileName, arguments);
        return exitCode == 0
            ? output
            : throw new InvalidOperationException($"{fileName} {string.Join(' ', arguments)} failed ({exitCode}): {output}");
    }

    /// <summary>Runs a command; returns its exit code and output (stdout then stderr).</summary>
    public static async Task<(int ExitCode, string Output)> TryRunAsync(string fileName, params string[] arguments)
    {
        var result = await ProcessRunner.RunAsync(fileName, arguments, workingDirectory: null, CommandDeadline);
        return (result.ExitCode, result.StandardOutput + result.StandardError);
    }

    /// <summary>Runs a command inside a network namespace.</summary>
    public static Task<string> InNamespaceAsync(string networkNamespace, string fileName, params string[] arguments) =>
        RunAsync("ip", ["netns", "exec", networkNamespace, fileName, .. arguments]);
}
