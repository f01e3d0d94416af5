using System.Security.Cryptography;
using Ledger.Sdk;
using Ledger.TestKit;

namespace Ledger.Cli.Tests;

/// <summary>The real `ledger` program: keygen, digest and verify, with the exit codes SPEC §7 fixes.</summary>
public sealed class VerifyProgramTests : IDisposable
{
    private readonly TempDirectory _dir = new("ledger-cli");
    private readonly ReceiptFixture _fixture = new(memberCount: 3, quorum: 2, leafCount: 9);

    public void Dispose() => _dir.Dispose();

    private string WriteConsortium()
    {
        var path = _dir.File("consortium.json");
        File.WriteAllText(path, _fixture.Consortium.ToJson());
        return path;
    }

    private string WriteReceipt(ulong index, string? text = null)
    {
        var path = _dir.File($"leaf-{index}{Receipt.FileExtension}");
        File.WriteAllText(path, text ?? _fixture.ReceiptFor(index).ToText());
        return path;
    }

    [Fact]
    public async Task Valid_receipt_exits_0_and_says_what_it_proves()
    {
        var result = await ProcessRunner.RunLedgerAsync("verify", WriteReceipt(3), "--consortium", WriteConsortium());
        Assert.True(result.ExitCode == 0, result.ToString());
        var lines = result.StandardOutput.Split('\n');
        Assert.Equal("VALID", lines[0]);
        Assert.Contains("issuer:     issuer-one (Issuer One)", lines);
        Assert.Contains($"digest:     {_fixture.Leaves[3].DigestHex}", lines);
        Assert.Contains("index:      3", lines);
        Assert.Contains("tree size:  9", lines);
        Assert.Contains(_fixture.Leaves[3].Timestamp.UtcDateTime.ToString("'timestamp:  'yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture), lines);
        Assert.Contains("signed by:  member-a, member-b (quorum 2 of 3)", lines);
    }

    [Fact]
    public async Task Digest_and_file_checks_pick_the_right_credential()
    {
        var credential = _dir.File("badge.json");
        File.WriteAllText(credential, "{\"badge\":\"first aid\"}");
        var digest = SHA256.HashData(File.ReadAllBytes(credential));
        var consortium = WriteConsortium();
        var matching = WriteReceipt(0, ReceiptWithLeaf(_fixture.Leaves[0] with { Digest = digest }));
        Assert.Equal(0, (await ProcessRunner.RunLedgerAsync("verify", matching, "--consortium", consortium, "--file", credential)).ExitCode);
        Assert.Equal(0, (await ProcessRunner.RunLedgerAsync("verify", matching, "--consortium", consortium, "--digest", Convert.ToHexStringLower(digest))).ExitCode);

        File.AppendAllText(credential, " ");
        var modified = await ProcessRunner.RunLedgerAsync("verify", matching, "--consortium", consortium, "--file", credential);
        Assert.Equal(1, modified.ExitCode);
        Assert.StartsWith("INVALID: the receipt is for digest " + Convert.ToHexStringLower(digest), modified.StandardOutput, StringComparison.Ordinal);
    }

    private string ReceiptWithLeaf(Leaf leaf)
    {
        // A one-leaf tree signed by the fixture's members: the leaf is the whole tree.
        var root = Ledger.Sdk.Merkle.MerkleHash.Leaf(leaf.Encode());
        var checkpoint = new Checkpoint(ReceiptFixture.Origin, 1, root);
        var note = SignedNote.Sign(checkpoint.Body(), _fixture.MemberKeys.Take(2)).ToText();
        return new Receipt(leaf.Encode(), 0, [], note).ToText();
    }

    [Fact]
    public async Task Tampered_receipt_exits_1_with_the_reason()
    {
        var receipt = _fixture.ReceiptFor(4);
        var tampered = receipt with { Index = 5 };
        var result = await ProcessRunner.RunLedgerAsync("verify", WriteReceipt(4, tampered.ToText()), "--consortium", WriteConsortium());
        Assert.Equal(1, result.ExitCode);
        Assert.Equal("INVALID: inclusion proof does not lead from the leaf to the checkpoint's root hash\n", result.StandardOutput);
    }

    [Fact]
    public async Task Receipt_under_another_consortium_exits_1()
    {
        var other = new ReceiptFixture(memberCount: 3, quorum: 2, leafCount: 9);
        var strangers = new Consortium(ReceiptFixture.Origin, 2,
            [.. new[] { "member-a", "member-b", "member-c" }.Select(n => new ConsortiumMember(n, SignerKey.Generate(n).Verifier, null))], []);
        var path = _dir.File("strangers.json");
        File.WriteAllText(path, strangers.ToJson());
        var result = await ProcessRunner.RunLedgerAsync("verify", WriteReceipt(2, other.ReceiptFor(2).ToText()), "--consortium", path);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("is not the key of member", result.StandardOutput, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("missing-receipt")]
    [InlineData("missing-consortium")]
    [InlineData("bad-consortium")]
    [InlineData("bad-digest")]
    [InlineData("digest-and-file")]
    [InlineData("no-consortium-option")]
    public async Task Bad_arguments_or_unreadable_input_exit_2(string @case)
    {
        var receipt = WriteReceipt(1);
        var consortium = WriteConsortium();
        var badConsortium = _dir.File("bad.json");
        File.WriteAllText(badConsortium, "{\"origin\": \"x\"}");
        string[] args = @case switch
        {
            "missing-receipt" => ["verify", _dir.File("nope.tlog-proof"), "--consortium", consortium],
            "missing-consortium" => ["verify", receipt, "--consortium", _dir.File("nope.json")],
            "bad-consortium" => ["verify", receipt, "--consortium", badConsortium],
            "bad-digest" => ["verify", receipt, "--consortium", consortium, "--digest", "abc"],
            "digest-and-file" => ["verify", receipt, "--consortium", consortium, "--digest", new string('a', 64), "--file", receipt],
            _ => ["verify", receipt],
        };
        var result = await ProcessRunner.RunLedgerAsync(args);
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Equal(string.Empty, result.StandardOutput);
        Assert.StartsWith("ledger: ", result.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Keygen_writes_an_owner_only_key_and_prints_its_verifier_key()
    {
        var path = _dir.File("issuer.key");
        var result = await ProcessRunner.RunLedgerAsync("keygen", "--name", "app-paris", "--out", path);
        Assert.True(result.ExitCode == 0, result.ToString());
        var key = SignerKey.Load(path);
        Assert.Equal(key.Verifier.ToString() + "\n", result.StandardOutput);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        }

        var again = await ProcessRunner.RunLedgerAsync("keygen", "--name", "app-paris", "--out", path);
        Assert.Equal(2, again.ExitCode);
        Assert.Contains("refusing to overwrite", again.StandardError, StringComparison.Ordinal);
        Assert.Equal(key.ToPrivateText(), SignerKey.Load(path).ToPrivateText());

        Assert.Equal(2, (await ProcessRunner.RunLedgerAsync("keygen", "--name", "App Paris", "--out", _dir.File("x.key"))).ExitCode);
        Assert.False(File.Exists(_dir.File("x.key")));
        Assert.Equal(2, (await ProcessRunner.RunLedgerAsync("keygen", "--name", "ok")).ExitCode);
    }

    [Fact]
    public async Task Digest_prints_sha256_per_file_and_exits_2_on_an_unreadable_one()
    {
        var a = _dir.File("a.txt");
        File.WriteAllText(a, "abc");
        var result = await ProcessRunner.RunLedgerAsync("digest", a);
        Assert.Equal(0, result.ExitCode);
        Assert.Equal($"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  {a}\n", result.StandardOutput);

        var missing = await ProcessRunner.RunLedgerAsync("digest", a, _dir.File("missing.txt"));
        Assert.Equal(2, missing.ExitCode);
        Assert.StartsWith("ba7816bf", missing.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("missing.txt", missing.StandardError, StringComparison.Ordinal);
    }
}
