using Ledger.TestKit;
using Ledger.Node.Tests.Support;

namespace Ledger.Node.Tests;

/// <summary>
/// A newcomer's path through the real programs: <c>ledger-node</c> with no arguments in an empty
/// folder, <c>ledger anchor</c> a folder of 1,000 files, <c>ledger prove</c>, <c>ledger verify</c>.
/// </summary>
public sealed class EndToEndTests
{
    private const int FileCount = 1_000;
    private const int ProcessSampleCount = 10;
    private static readonly TimeSpan StepTimeout = TimeSpan.FromMinutes(2);

    /// <summary>The inotify instances a process holds (each file-system watcher opens one).</summary>
    private static string[] FileSystemWatches(int processId) =>
        [.. new DirectoryInfo($"/proc/{processId}/fd").GetFiles()
            .Select(fd => fd.LinkTarget ?? "")
            .Where(target => target.Contains("inotify", StringComparison.Ordinal))];

    [Fact]
    public async Task Anchor_a_folder_prove_and_verify_every_receipt_offline_and_a_modified_file_fails()
    {
        using var dir = new TempDirectory("ledger-node-tests");
        // No arguments: only the port comes from the environment, so that tests never use a fixed port.
        using var node = RunningProgram.Start(RepoPaths.NodeDll, [], dir.Path, new Dictionary<string, string> { ["Ledger__Listen"] = "http://127.0.0.1:0" });
        var address = await node.WaitForAddressAsync(StepTimeout);
        var dataDir = Path.Combine(dir.Path, "ledger-data");
        var consortium = Path.Combine(dataDir, "consortium.json");
        var issuerKey = Path.Combine(dataDir, "dev-issuer.key");
        Assert.Contains(consortium, node.Output, StringComparison.Ordinal);
        Assert.Contains(issuerKey, node.Output, StringComparison.Ordinal);
        Assert.Contains("plain HTTP/2", node.Output, StringComparison.Ordinal);
        if (OperatingSystem.IsLinux())
        {
            // The data folder is under the working folder: a configuration watch on it would wake on every write.
            Assert.Empty(FileSystemWatches(node.Id));
        }
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(issuerKey));
        }

        var badges = Path.Combine(dir.Path, "badges");
        Directory.CreateDirectory(badges);
        var files = Enumerable.Range(0, FileCount).Select(i => Path.Combine(badges, $"badge-{i:D4}.json")).ToArray();
        for (var i = 0; i < files.Length; i++)
        {
            await File.WriteAllTextAsync(files[i], $"{{\"badge\":{i},\"holder\":\"person-{i}\"}}");
        }

        var anchor = await Ledger(dir, "anchor", badges, "--issuer-key", issuerKey, "--node", address, "--receipts", "anchored");
        Assert.True(anchor.ExitCode == 0, anchor.Output + anchor.Error);
        Assert.Contains($"anchored {FileCount} digests ({FileCount} new", anchor.Output, StringComparison.Ordinal);
        Assert.Equal(FileCount, Directory.GetFiles(Path.Combine(dir.Path, "anchored")).Length);

        string[] proveArgs = ["prove", "--node", address, "--out", "proved", .. files.SelectMany(file => new[] { "--file", file })];
        var prove = await Ledger(dir, proveArgs);
        Assert.True(prove.ExitCode == 0, prove.Output + prove.Error);

        var receipts = files.Select(file => Path.Combine(dir.Path, "proved", Sha256Hex(file) + ".tlog-proof")).ToArray();
        // Every receipt goes through the real ledger.dll's entry point (loaded once, see CliInProcess);
        // a sample also through separate `ledger verify` processes, which check the process contract.
        var invalid = Enumerable.Range(0, FileCount)
            .Where(i => CliInProcess.Instance.Run("verify", receipts[i], "--consortium", consortium, "--file", files[i]) != 0)
            .Select(i => files[i])
            .ToList();
        Assert.Empty(invalid);
        for (var i = 0; i < FileCount; i += FileCount / ProcessSampleCount)
        {
            var verify = await Ledger(dir, "verify", receipts[i], "--consortium", consortium, "--file", files[i]);
            Assert.True(verify.ExitCode == 0, verify.Output + verify.Error);
            Assert.StartsWith("VALID", verify.Output, StringComparison.Ordinal);
        }

        await File.AppendAllTextAsync(files[17], " ");
        var tampered = await Ledger(dir, "verify", receipts[17], "--consortium", consortium, "--file", files[17]);
        Assert.Equal(1, tampered.ExitCode);
        Assert.StartsWith("INVALID", tampered.Output, StringComparison.Ordinal);
        Assert.Equal(1, CliInProcess.Instance.Run("verify", receipts[17], "--consortium", consortium, "--file", files[17]));
        Assert.Equal(1, CliInProcess.Instance.Run("verify", receipts[18], "--consortium", consortium, "--file", files[17]));

        var notAnchored = await Ledger(dir, "prove", "--file", files[17], "--node", address);
        Assert.Equal(1, notAnchored.ExitCode);
    }

    private static string Sha256Hex(string path) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path)));

    private static Task<(int ExitCode, string Output, string Error)> Ledger(TempDirectory dir, params string[] args) =>
        RunningProgram.RunAsync(RepoPaths.CliDll, args, dir.Path, StepTimeout);
}
