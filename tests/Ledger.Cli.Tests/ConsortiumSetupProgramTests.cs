using System.Text.Json;
using Ledger.Sdk;
using Ledger.TestKit;

namespace Ledger.Cli.Tests;

/// <summary>Setting up a consortium with the real `ledger` program: assemble a file from public keys, run a local one.</summary>
public sealed class ConsortiumSetupProgramTests : IDisposable
{
    private readonly TempDirectory _dir = new("ledger-setup");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Assemble_builds_a_valid_file_from_verifier_keys_and_never_overwrites()
    {
        var keys = new List<string>();
        foreach (var name in new[] { "member-a", "member-b", "member-c", "app-paris" })
        {
            var result = await ProcessRunner.RunLedgerAsync("keygen", "--name", name, "--out", _dir.File(name + ".key"));
            Assert.Equal(0, result.ExitCode);
            keys.Add(result.StandardOutput.Trim());
        }

        var output = _dir.File("consortium.json");
        var assembled = await ProcessRunner.RunLedgerAsync(
            "consortium", "assemble", "--origin", "ledger.example.org/badges-2026",
            "--member", keys[0] + "@https://10.0.0.1:7400", "--member", keys[1] + "@https://10.0.0.2:7400", "--member", keys[2],
            "--issuer", keys[3] + "@APP Paris", "--out", output);
        Assert.True(assembled.ExitCode == 0, assembled.ToString());
        var consortium = Consortium.Load(output);
        Assert.Equal(2, consortium.Quorum);
        Assert.Equal("https://10.0.0.2:7400", consortium.FindMember("member-b")!.Address);
        Assert.Null(consortium.FindMember("member-c")!.Address);
        Assert.Equal("APP Paris", consortium.FindIssuer("app-paris")!.DisplayName);
        Assert.Equal(SignerKey.Load(_dir.File("member-a.key")).Id, consortium.FindMember("member-a")!.Key.Id);

        var check = await ProcessRunner.RunLedgerAsync("consortium", "check", output);
        Assert.Equal(0, check.ExitCode);
        Assert.Contains("quorum:  2 of 3", check.StandardOutput, StringComparison.Ordinal);

        var again = await ProcessRunner.RunLedgerAsync("consortium", "assemble", "--origin", "x", "--member", keys[0], "--out", output);
        Assert.Equal(2, again.ExitCode);
        Assert.Contains("refusing to overwrite", again.StandardError, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("has space", "origin 'has space' is invalid")]
    [InlineData("quorum", "quorum 1 is out of range")]
    [InlineData("bad-key", "a verifier key has the form")]
    [InlineData("bad-address", "is not an http:// or https:// URL")]
    public async Task Assemble_refuses_bad_input_with_a_reason_and_writes_nothing(string @case, string reason)
    {
        var key = SignerKey.Generate("member-a").Verifier.ToString();
        var key2 = SignerKey.Generate("member-b").Verifier.ToString();
        var output = _dir.File("consortium.json");
        string[] args = @case switch
        {
            "has space" => ["consortium", "assemble", "--origin", "has space", "--member", key, "--out", output],
            "quorum" => ["consortium", "assemble", "--origin", "o", "--member", key, "--member", key2, "--quorum", "1", "--out", output],
            "bad-key" => ["consortium", "assemble", "--origin", "o", "--member", "member-a", "--out", output],
            _ => ["consortium", "assemble", "--origin", "o", "--member", key + "@ftp://x", "--out", output],
        };
        var result = await ProcessRunner.RunLedgerAsync(args);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains(reason, result.StandardError, StringComparison.Ordinal);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public async Task Dev_up_runs_a_serving_member_described_in_dev_json_and_dev_down_stops_it()
    {
        var dir = _dir.File("dev");
        try
        {
            var up = await ProcessRunner.RunLedgerAsync("dev", "up", "--members", "1", "--dir", dir);
            Assert.True(up.ExitCode == 0, up.ToString());
            using var state = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "dev.json")));
            var member = state.RootElement.GetProperty("members")[0];
            Assert.Equal("member-a", member.GetProperty("id").GetString());
            var address = member.GetProperty("address").GetString()!;
            Assert.StartsWith("http://127.0.0.1:", address, StringComparison.Ordinal);
            Assert.True(Directory.Exists(member.GetProperty("dataDir").GetString()));
            var pid = member.GetProperty("pid").GetInt32();
            Assert.Contains("ledger-node", File.ReadAllText($"/proc/{pid}/cmdline"), StringComparison.Ordinal);
            var issuerKey = state.RootElement.GetProperty("issuerKey").GetString()!;
            Assert.Equal("dev-issuer", SignerKey.Load(issuerKey).Name);

            var status = await ProcessRunner.RunLedgerAsync("status", "--node", address, "--json");
            Assert.True(status.ExitCode == 0, status.ToString());

            var twice = await ProcessRunner.RunLedgerAsync("dev", "up", "--members", "1", "--dir", dir);
            Assert.Equal(1, twice.ExitCode);

            var down = await ProcessRunner.RunLedgerAsync("dev", "down", "--dir", dir);
            Assert.True(down.ExitCode == 0, down.ToString());
            Assert.False(File.Exists($"/proc/{pid}/cmdline") && File.ReadAllText($"/proc/{pid}/cmdline").Contains("ledger-node", StringComparison.Ordinal));
            Assert.False(File.Exists(Path.Combine(dir, "dev.json")));
        }
        finally
        {
            await ProcessRunner.RunLedgerAsync("dev", "down", "--dir", dir);
        }
    }

    [Fact]
    public async Task Dev_up_of_three_members_serves_quorum_signed_receipts_from_every_member()
    {
        var dir = _dir.File("dev3");
        try
        {
            var up = await ProcessRunner.RunLedgerAsync("dev", "up", "--members", "3", "--dir", dir);
            Assert.True(up.ExitCode == 0, up.ToString());
            using var state = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "dev.json")));
            var addresses = state.RootElement.GetProperty("members").EnumerateArray().Select(m => m.GetProperty("address").GetString()!).ToList();
            var pids = state.RootElement.GetProperty("members").EnumerateArray().Select(m => m.GetProperty("pid").GetInt32()).ToList();
            Assert.Equal(3, addresses.Distinct().Count());
            var consortiumFile = Path.Combine(dir, "consortium.json");
            Assert.Equal(2, Consortium.Load(consortiumFile).Quorum);

            var badge = _dir.File("badge.txt");
            await File.WriteAllTextAsync(badge, "a badge anchored through a follower or the leader");
            var receipts = _dir.File("receipts");
            var anchor = await ProcessRunner.RunLedgerAsync("anchor", badge, "--issuer-key", state.RootElement.GetProperty("issuerKey").GetString()!,
                "--node", string.Join(',', addresses), "--receipts", receipts);
            Assert.True(anchor.ExitCode == 0, anchor.ToString());

            foreach (var address in addresses)
            {
                var proof = _dir.File($"proof-{addresses.IndexOf(address)}.tlog-proof");
                var prove = await ProcessRunner.RunLedgerAsync("prove", "--file", badge, "--node", address, "--out", proof);
                Assert.True(prove.ExitCode == 0, prove.ToString());
                var verify = await ProcessRunner.RunLedgerAsync("verify", proof, "--consortium", consortiumFile, "--file", badge);
                Assert.True(verify.ExitCode == 0, verify.ToString());
                var signatures = File.ReadAllLines(proof).Count(line => line.StartsWith("\u2014 ", StringComparison.Ordinal));
                Assert.True(signatures >= 2, $"{address} served a receipt with {signatures} signature(s)");
            }

            var status = await ProcessRunner.RunLedgerAsync("status", "--node", addresses[0], "--json");
            Assert.True(status.ExitCode == 0, status.ToString());
            using var members = JsonDocument.Parse(status.StandardOutput);
            var roles = members.RootElement.GetProperty("members").EnumerateArray().Select(m => m.GetProperty("role").GetString()).ToList();
            Assert.Equal(1, roles.Count(role => role == "leader"));
            Assert.Equal(2, roles.Count(role => role == "follower"));

            var down = await ProcessRunner.RunLedgerAsync("dev", "down", "--dir", dir);
            Assert.True(down.ExitCode == 0, down.ToString());
            Assert.All(pids, pid => Assert.False(File.Exists($"/proc/{pid}/cmdline") && File.ReadAllText($"/proc/{pid}/cmdline").Contains("ledger-node", StringComparison.Ordinal)));
        }
        finally
        {
            await ProcessRunner.RunLedgerAsync("dev", "down", "--dir", dir);
        }
    }

    [Theory]
    [InlineData("0")]
    [InlineData("8")]
    public async Task Dev_up_refuses_a_member_count_out_of_range(string members)
    {
        var result = await ProcessRunner.RunLedgerAsync("dev", "up", "--members", members, "--dir", _dir.File("dev"));
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--members must be 1-7", result.StandardError, StringComparison.Ordinal);
    }
}
