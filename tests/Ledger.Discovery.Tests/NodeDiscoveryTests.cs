using System.Diagnostics;
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
    private static readonly TimeSpan FormWait = TimeSpan.FromSeconds(60);

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
        var info = ProcessRunner.StartInfo("ip",
        [
            "netns", "exec", networkNamespace, "dotnet", NodeDll,
            "--data-dir", Path.Combine(setup.Dir.Path, name + "-" + started.Count), "--consortium", consortiumPath, "--member-key", keyPath,
            "--listen", setup.Address(member), "--discovery-interfaces", "lo",
        ]);
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
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
    private static async Task<JsonElement> WaitForRolesAsync(string networkNamespace, string address, Func<string[], bool> formed)
    {
        var deadline = DateTime.UtcNow + FormWait;
        var last = "";
        while (DateTime.UtcNow < deadline)
        {
            var (code, output) = await LedgerInAsync(networkNamespace, "status", "--node", address, "--json");
            last = output;
            if (code == 0)
            {
                var status = JsonDocument.Parse(output).RootElement;
                var roles = status.GetProperty("members").EnumerateArray().Select(m => m.GetProperty("role").GetString()!).ToArray();
                if (formed(roles))
                {
                    return status;
                }
            }

            await Task.Delay(500);
        }

        throw new TimeoutException("the members did not form the consortium in time; last status:\n" + last);
    }

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

            for (var member = 0; member < 2; member++)
            {
                await WaitForRolesAsync(ns, setup.Address(member), roles => roles.Count(r => r == "leader") == 1 && roles.Count(r => r == "follower") == 1);
            }
            var badge = Path.Combine(setup.Dir.Path, "badge.txt");
            await File.WriteAllTextAsync(badge, "anchored with member-c absent");
            var anchor = await LedgerInAsync(ns, "anchor", badge, "--issuer-key", setup.IssuerKeyPath, "--node", setup.Address(0), "--receipts", Path.Combine(setup.Dir.Path, "receipts"));
            Assert.True(anchor.ExitCode == 0, anchor.Output);

            // Well after the impostor announced itself many times, the real members still know no address for member-c.
            await Task.Delay(TimeSpan.FromSeconds(6));
            var (code, output) = await LedgerInAsync(ns, "status", "--node", setup.Address(0), "--json");
            Assert.True(code == 0, output);
            var rows = JsonDocument.Parse(output).RootElement.GetProperty("members").EnumerateArray().ToDictionary(m => m.GetProperty("id").GetString()!);
            Assert.Equal("unreachable", rows["member-c"].GetProperty("role").GetString());
            Assert.Equal("", rows["member-c"].GetProperty("address").GetString());
        }
        finally
        {
            KillAll(nodes);
        }
    }
}
