using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Ledger.Discovery.Tests.Support;
using Ledger.Sdk;
using Ledger.TestKit;

namespace Ledger.Discovery.Tests;

/// <summary>
/// Real ledger-node processes inside a network namespace the test creates, with a consortium file
/// that gives no addresses: the members find each other with mDNS on the namespace's loopback, and
/// use an address only once its holder proved the member's key.
/// </summary>
public sealed class NodeDiscoveryTests
{
    private static readonly TimeSpan FormWait = TimeSpan.FromSeconds(120);

    /// <summary>
    /// A bound, not a timing assertion. Without a connect timeout on the replication stream the leader
    /// waited about two minutes (the operating system's) on the old address before trying the new one.
    /// </summary>
    private static readonly TimeSpan MoveWait = TimeSpan.FromSeconds(60);

    private const int NodeOutputLinesMax = 80;

    /// <summary>The last lines each node process printed, by process id, for failure messages.</summary>
    private static readonly ConcurrentDictionary<int, ConcurrentQueue<string>> NodeOutput = new();

    private static string NodeDll => RepositoryPaths.ProgramDll("node/Ledger.Node", "ledger-node");

    private static string CliDll => RepositoryPaths.ProgramDll("client-sdk/Ledger.Cli", "ledger");

    private sealed class Setup(TempDirectory dir, Consortium consortium, int[] ports) : IDisposable
    {
        public TempDirectory Dir { get; } = dir;

        public Consortium Consortium { get; } = consortium;

        public int[] Ports { get; } = ports;

        public string ConsortiumPath => Path.Combine(Dir.Path, "consortium.json");

        public string IssuerKeyPath => Path.Combine(Dir.Path, "issuer.key");

        public string Address(int member) => $"http://127.0.0.1:{Ports[member]}";

        public void Dispose() => Dir.Dispose();
    }

    private static Setup Prepare()
    {
        var dir = new TempDirectory("ledger-node-discovery");
        var keys = new[] { "member-a", "member-b", "member-c" }.Select(SignerKey.Generate).ToArray();
        var issuer = SignerKey.Generate("issuer-one");
        var consortium = new Consortium("test.ledger/discovery-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)), 2,
            keys.Select(k => new ConsortiumMember(k.Name, k.Verifier, null)).ToList(),
            [new ConsortiumIssuer(issuer.Name, issuer.Verifier, "test issuer")]);
        File.WriteAllText(Path.Combine(dir.Path, "consortium.json"), consortium.ToJson());
        foreach (var key in keys)
        {
            key.Save(Path.Combine(dir.Path, key.Name + ".key"));
        }

        issuer.Save(Path.Combine(dir.Path, "issuer.key"));
        var first = 21_000 + RandomNumberGenerator.GetInt32(20_000);
        return new Setup(dir, consortium, [first, first + 1, first + 2]);
    }

    private static Process StartNode(string networkNamespace, Setup setup, int member, string consortiumPath, string keyPath, List<Process> started)
    {
        var name = setup.Consortium.Members[member].Id;
        return StartNodeProcess(networkNamespace,
        [
            "--data-dir", Path.Combine(setup.Dir.Path, name + "-" + started.Count), "--consortium", consortiumPath, "--member-key", keyPath,
            "--listen", setup.Address(member), "--discovery-interfaces", "lo",
        ], started);
    }

    private static Process StartNodeProcess(string networkNamespace, string[] arguments, List<Process> started)
    {
        var info = ProcessRunner.StartInfo("ip", ["netns", "exec", networkNamespace, "dotnet", NodeDll, .. arguments]);
        var process = Process.Start(info)!;
        var output = NodeOutput.GetOrAdd(process.Id, _ => new ConcurrentQueue<string>());
        process.OutputDataReceived += (_, e) => Keep(output, e.Data);
        process.ErrorDataReceived += (_, e) => Keep(output, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        started.Add(process);
        return process;
    }

    private static async Task<(int ExitCode, string Output)> LedgerInAsync(string networkNamespace, params string[] arguments)
    {
        var info = ProcessRunner.StartInfo("ip", ["netns", "exec", networkNamespace, "dotnet", CliDll, .. arguments]);

        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output + await error);
    }

    /// <summary>Waits until a member's status shows the roles wanted for every member, returning the last status JSON.</summary>
    private static Task<JsonElement> WaitForRolesAsync(string networkNamespace, string address, Func<string[], bool> formed) =>
        WaitForStatusAsync(networkNamespace, address, status => formed(Roles(status)), "the members did not form the consortium in time");

    private static string[] Roles(JsonElement status) =>
        [.. status.GetProperty("members").EnumerateArray().Select(m => m.GetProperty("role").GetString()!)];

    private static JsonElement Row(JsonElement status, string member) =>
        status.GetProperty("members").EnumerateArray().First(m => m.GetProperty("id").GetString() == member);

    /// <summary>Waits until a member's status (<c>ledger status --json</c>) satisfies <paramref name="wanted"/>, returning it.</summary>
    private static async Task<JsonElement> WaitForStatusAsync(string networkNamespace, string address, Func<JsonElement, bool> wanted, string failure, TimeSpan? wait = null)
    {
        var deadline = DateTime.UtcNow + (wait ?? FormWait);
        var last = "";
        while (DateTime.UtcNow < deadline)
        {
            var (code, output) = await LedgerInAsync(networkNamespace, "status", "--node", address, "--json");
            last = output;
            if (code == 0)
            {
                var status = JsonDocument.Parse(output).RootElement;
                if (wanted(status))
                {
                    return status;
                }
            }

            await Task.Delay(500);
        }

        throw new TimeoutException(failure + "; last status from " + address + ":\n" + last);
    }

    private static void Keep(ConcurrentQueue<string> output, string? line)
    {
        // Stack frames of logged exceptions would crowd out the events.
        if (line is null || line.TrimStart().StartsWith("at ", StringComparison.Ordinal))
        {
            return;
        }

        output.Enqueue(line);
        while (output.Count > NodeOutputLinesMax && output.TryDequeue(out _))
        {
            // Only the last lines are kept.
        }
    }

    /// <summary>Each node process: whether it still runs, and the last lines it printed.</summary>
    private static string Describe(List<Process> processes) => string.Join('\n', processes.Select(process =>
        $"--- node pid {process.Id}: " + (process.HasExited ? $"exited with {process.ExitCode}" : "running") + "\n"
        + string.Join('\n', NodeOutput.TryGetValue(process.Id, out var lines) ? lines : [])));

    private static void KillAll(List<Process> processes)
    {
        foreach (var process in processes)
        {
            try
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(10_000);
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }

            process.Dispose();
        }
    }

    [Fact]
    public async Task Three_members_without_addresses_find_each_other_and_serve_quorum_signed_receipts()
    {
        using var setup = Prepare();
        await using var namespaces = new NetworkNamespaces();
        var ns = await namespaces.AddLoopbackOnlyAsync();
        var nodes = new List<Process>();
        try
        {
            for (var member = 0; member < 3; member++)
            {
                StartNode(ns, setup, member, setup.ConsortiumPath, Path.Combine(setup.Dir.Path, setup.Consortium.Members[member].Id + ".key"), nodes);
            }

            // Each member's status asks the others at the addresses it verified: all three answering means all know all.
            for (var member = 0; member < 3; member++)
            {
                await WaitForRolesAsync(ns, setup.Address(member), roles => roles.Count(r => r == "leader") == 1 && roles.Count(r => r == "follower") == 2);
            }

            var badge = Path.Combine(setup.Dir.Path, "badge.txt");
            await File.WriteAllTextAsync(badge, "found by discovery");
            var anchor = await LedgerInAsync(ns, "anchor", badge, "--issuer-key", setup.IssuerKeyPath, "--node", setup.Address(1), "--receipts", Path.Combine(setup.Dir.Path, "receipts"));
            Assert.True(anchor.ExitCode == 0, anchor.Output);
            var proof = Path.Combine(setup.Dir.Path, "badge.tlog-proof");
            var prove = await LedgerInAsync(ns, "prove", "--file", badge, "--node", setup.Address(2), "--out", proof);
            Assert.True(prove.ExitCode == 0, prove.Output);
            var verify = await ProcessRunner.RunLedgerAsync("verify", proof, "--consortium", setup.ConsortiumPath, "--file", badge);
            Assert.True(verify.ExitCode == 0, verify.ToString());
            Assert.Contains("quorum 2 of 3", verify.StandardOutput, StringComparison.Ordinal);
        }
        finally
        {
            KillAll(nodes);
        }
    }

    [Fact]
    public async Task An_impostor_announcing_a_members_name_is_never_used_as_that_member()
    {
        using var setup = Prepare();
        await using var namespaces = new NetworkNamespaces();
        var ns = await namespaces.AddLoopbackOnlyAsync();
        // The impostor holds another key under member-c's name, in a consortium file of its own.
        var impostorKey = SignerKey.Generate("member-c");
        var impostorKeyPath = Path.Combine(setup.Dir.Path, "impostor.key");
        impostorKey.Save(impostorKeyPath);
        var forged = new Consortium(setup.Consortium.Origin, 2,
            setup.Consortium.Members.Select(m => m.Id == "member-c" ? new ConsortiumMember("member-c", impostorKey.Verifier, null) : m).ToList(),
            setup.Consortium.Issuers);
        var forgedPath = Path.Combine(setup.Dir.Path, "forged.json");
        await File.WriteAllTextAsync(forgedPath, forged.ToJson());
        var nodes = new List<Process>();
        try
        {
            StartNode(ns, setup, 2, forgedPath, impostorKeyPath, nodes);
            for (var member = 0; member < 2; member++)
            {
                StartNode(ns, setup, member, setup.ConsortiumPath, Path.Combine(setup.Dir.Path, setup.Consortium.Members[member].Id + ".key"), nodes);
            }

            // Well after the impostor announced itself many times, the real members still know no address
            // for member-c, and its answers did not count as member-c's: a new consortium elects its first
            // leader only once every member has answered, so the two real members still hold their votes.
            await WaitForRolesAsync(ns, setup.Address(0), roles => roles.Count(r => r == "follower") == 2);
            await Task.Delay(TimeSpan.FromSeconds(8));
            var status = await WaitForRolesAsync(ns, setup.Address(0), roles => roles.Count(r => r == "follower") == 2);
            var output = status.ToString();
            Assert.Equal("", status.GetProperty("leader").GetString());
            var rows = status.GetProperty("members").EnumerateArray().ToDictionary(m => m.GetProperty("id").GetString()!);
            Assert.True(rows["member-a"].GetProperty("votesHeld").GetBoolean(), output);
            Assert.True(rows["member-b"].GetProperty("votesHeld").GetBoolean(), output);
            Assert.Equal("unreachable", rows["member-c"].GetProperty("role").GetString());
            Assert.Equal("", rows["member-c"].GetProperty("address").GetString());
        }
        finally
        {
            KillAll(nodes);
        }
    }

    [Fact]
    public async Task A_member_that_moves_to_another_address_is_found_there_and_keeps_applying_anchors()
    {
        const string Subnet = "10.215.0";
        const string Interface = "ldisc0";
        using var setup = Prepare();
        await using var namespaces = new NetworkNamespaces();
        var hosts = await namespaces.AddBridgedHostsAsync(3, Subnet, Interface);
        string At(int member, int host) => $"http://{Subnet}.{host}:{setup.Ports[member]}";
        string DataDir(int member) => Path.Combine(setup.Dir.Path, setup.Consortium.Members[member].Id);
        var addresses = new[] { At(0, 1), At(1, 2), At(2, 3) };
        var moved = At(2, 13);
        var nodes = new List<Process>();
        Process Start(int member, string listen) => StartNodeProcess(hosts[member],
        [
            "--data-dir", DataDir(member), "--consortium", setup.ConsortiumPath,
            "--member-key", Path.Combine(setup.Dir.Path, setup.Consortium.Members[member].Id + ".key"),
            "--listen", listen, "--allow-plaintext", "true", "--discovery-interfaces", Interface,
        ], nodes);
        static bool Serving(JsonElement row) => row.GetProperty("role").GetString() is "leader" or "follower";
        try
        {
            Start(0, addresses[0]);
            Start(1, addresses[1]);
            var memberC = Start(2, addresses[2]);
            for (var member = 0; member < 2; member++)
            {
                await WaitForStatusAsync(hosts[member], addresses[member],
                    status => Roles(status).Count(r => r == "leader") == 1 && Roles(status).Count(r => r == "follower") == 2
                        && Row(status, "member-c").GetProperty("address").GetString() == addresses[2],
                    "member-c was not found at its first address");
            }

            var receipts = Path.Combine(setup.Dir.Path, "receipts");
            var before = Path.Combine(setup.Dir.Path, "before.txt");
            await File.WriteAllTextAsync(before, "anchored before member-c moved");
            var anchor = await LedgerInAsync(hosts[0], "anchor", before, "--issuer-key", setup.IssuerKeyPath, "--node", addresses[0], "--receipts", receipts);
            Assert.True(anchor.ExitCode == 0, anchor.Output);

            // member-c crashes, its host gets another address, and it starts again on the same data there.
            memberC.Kill(entireProcessTree: true);
            await memberC.WaitForExitAsync();
            await NetworkNamespaces.ReplaceAddressAsync(hosts[2], Interface, $"{Subnet}.3/24", $"{Subnet}.13/24");
            Start(2, moved);

            // The others find it at the new address (proved with its key) and it serves again.
            for (var member = 0; member < 2; member++)
            {
                await WaitForStatusAsync(hosts[member], addresses[member],
                    status => Row(status, "member-c").GetProperty("address").GetString() == moved && Serving(Row(status, "member-c")),
                    "member-c was not found at its new address", MoveWait);
            }

            // The others reach it; it serves anchors once it has heard from the leader (a heartbeat
            // to its new address), which may come a moment after they see it answer as a follower.
            await WaitForStatusAsync(hosts[2], moved, status => status.GetProperty("leader").GetString() is { Length: > 0 },
                "member-c at its new address did not hear from a leader", MoveWait);

            // New anchors, one sent to member-c itself, are committed and applied there.
            var after = Path.Combine(setup.Dir.Path, "after.txt");
            await File.WriteAllTextAsync(after, "anchored through member-c at its new address");
            anchor = await LedgerInAsync(hosts[2], "anchor", after, "--issuer-key", setup.IssuerKeyPath, "--node", moved, "--receipts", receipts);
            Assert.True(anchor.ExitCode == 0, anchor.Output);
            var last = Path.Combine(setup.Dir.Path, "last.txt");
            await File.WriteAllTextAsync(last, "anchored through member-a after the move");
            anchor = await LedgerInAsync(hosts[0], "anchor", last, "--issuer-key", setup.IssuerKeyPath, "--node", addresses[0], "--receipts", receipts);
            Assert.True(anchor.ExitCode == 0, anchor.Output);
            await WaitForStatusAsync(hosts[2], moved, status => status.GetProperty("treeSize").GetInt64() == 3, "member-c did not apply the new anchors");

            var proof = Path.Combine(setup.Dir.Path, "last.tlog-proof");
            var prove = await LedgerInAsync(hosts[2], "prove", "--file", last, "--node", moved, "--out", proof);
            Assert.True(prove.ExitCode == 0, prove.Output);
            var verify = await ProcessRunner.RunLedgerAsync("verify", proof, "--consortium", setup.ConsortiumPath, "--file", last);
            Assert.True(verify.ExitCode == 0, verify.ToString());
        }
        catch (Exception e) when (e is TimeoutException or Xunit.Sdk.XunitException)
        {
            throw new Xunit.Sdk.XunitException(e.Message + "\n" + Describe(nodes));
        }
        finally
        {
            KillAll(nodes);
        }

        // The other members' peer books hold member-c's new address, not the old one.
        for (var member = 0; member < 2; member++)
        {
            using var book = new PeerBook(Path.Combine(DataDir(member), "peers.db"));
            Assert.Equal(new IPEndPoint(IPAddress.Parse($"{Subnet}.13"), setup.Ports[2]), book.Get("member-c")?.Address);
        }
    }
}
