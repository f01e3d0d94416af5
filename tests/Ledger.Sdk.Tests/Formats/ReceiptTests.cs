using System.Text;
using Ledger.Sdk;
using Ledger.TestKit;

namespace Ledger.Sdk.Tests.Formats;

public sealed class ReceiptTests
{
    private readonly ReceiptFixture _fixture = new(memberCount: 3, quorum: 2, leafCount: 13);

    private ReceiptVerifier Verifier => new(_fixture.Consortium);

    private string ValidText(ulong index = 5) => _fixture.ReceiptFor(index).ToText();

    private void AssertInvalid(string receiptText, string reason)
    {
        var result = Verifier.Verify(receiptText);
        Assert.False(result.IsValid, "expected an invalid receipt:\n" + receiptText);
        Assert.Contains(reason, result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Receipts_for_every_leaf_and_every_tree_size_verify()
    {
        var verifier = Verifier;
        for (ulong size = 1; size <= _fixture.Tree.Size; size++)
        {
            var checkpoint = _fixture.SignedCheckpoint(size);
            for (ulong index = 0; index < size; index++)
            {
                var receipt = _fixture.ReceiptFor(index, checkpoint, size);
                var result = verifier.Verify(receipt.ToText(), _fixture.Leaves[(int)index].Digest);
                Assert.True(result.IsValid, $"index {index} size {size}: {result.Reason}");
                Assert.Equal(index, result.Index);
                Assert.Equal(size, result.Checkpoint!.Size);
                Assert.Equal(["member-a", "member-b"], result.Signers);
                Assert.Equal("issuer-one", result.Leaf!.Issuer);
            }
        }
    }

    [Fact]
    public void Many_receipts_under_one_checkpoint_check_its_signatures_once()
    {
        var verifier = Verifier;
        var checkpoint = _fixture.SignedCheckpoint();
        for (ulong index = 0; index < _fixture.Tree.Size; index++)
        {
            Assert.True(verifier.Verify(_fixture.ReceiptFor(index, checkpoint).ToText()).IsValid);
        }

        Assert.Equal(2, verifier.Checkpoints.SignatureChecks);
        Assert.True(verifier.Verify(_fixture.ReceiptFor(0, _fixture.SignedCheckpoint(size: 7), size: 7).ToText()).IsValid);
        Assert.Equal(4, verifier.Checkpoints.SignatureChecks);
    }

    [Fact]
    public void Changing_a_returned_root_cannot_change_later_verifications()
    {
        var verifier = Verifier;
        var text = ValidText(5);
        var first = verifier.Verify(text);
        Assert.True(first.IsValid);
        first.Checkpoint!.Root[0] ^= 0xFF;
        var second = verifier.Verify(text);
        Assert.True(second.IsValid, second.Reason);
        second.Checkpoint!.Root[1] ^= 0xFF;
        Assert.True(verifier.Verify(_fixture.ReceiptFor(6).ToText()).IsValid);
    }

    [Fact]
    public void Receipt_text_round_trips()
    {
        var text = ValidText();
        Assert.True(Receipt.TryParse(text, out var receipt, out var error), error);
        Assert.Equal(text, receipt!.ToText());
        Assert.StartsWith("c2sp.org/tlog-proof@v1\nextra ", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_single_bit_flip_is_rejected()
    {
        var bytes = Encoding.UTF8.GetBytes(ValidText());
        var verifier = Verifier;
        Assert.True(verifier.Verify(bytes).IsValid);
        for (var i = 0; i < bytes.Length; i++)
        {
            for (var bit = 0; bit < 8; bit++)
            {
                bytes[i] ^= (byte)(1 << bit);
                var result = verifier.Verify(bytes);
                Assert.False(result.IsValid, $"flipping bit {bit} of byte {i} was accepted");
                Assert.False(string.IsNullOrEmpty(result.Reason));
                bytes[i] ^= (byte)(1 << bit);
            }
        }
    }

    [Fact]
    public void Wrong_digest_is_rejected()
    {
        var result = Verifier.Verify(ValidText(5), _fixture.Leaves[6].Digest);
        Assert.False(result.IsValid);
        Assert.Contains($"is for digest {_fixture.Leaves[5].DigestHex}", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Too_few_member_signatures()
    {
        var checkpoint = _fixture.SignedCheckpoint(signers: [_fixture.MemberKeys[0]]);
        AssertInvalid(_fixture.ReceiptFor(5, checkpoint).ToText(), "valid signatures of 1 distinct member(s); the consortium's quorum is 2");
    }

    [Fact]
    public void One_member_signing_twice_counts_once()
    {
        var once = _fixture.SignedCheckpoint(signers: [_fixture.MemberKeys[0]]);
        var signatureLine = once.Split('\n')[^2];
        var twice = once + signatureLine + "\n";
        AssertInvalid(_fixture.ReceiptFor(5, twice).ToText(), "member 'member-a' signed more than once; it counts once");
    }

    [Fact]
    public void Signature_by_an_unknown_key_under_a_members_name_is_ignored()
    {
        var impostor = ReceiptFixture.KeyFromLabel("member-b-impostor");
        var impostorAsB = SignerKey.FromSeed("member-b", System.Security.Cryptography.SHA256.HashData("other"u8));
        Assert.NotEqual(impostorAsB.Id, _fixture.MemberKeys[1].Id);
        var checkpoint = _fixture.SignedCheckpoint(signers: [_fixture.MemberKeys[0], impostorAsB, impostor]);
        AssertInvalid(_fixture.ReceiptFor(5, checkpoint).ToText(), $"key ID {KeyId.ToHex(impostorAsB.Id)} is not the key of member 'member-b'");
    }

    [Fact]
    public void Corrupted_signature_by_a_known_member()
    {
        var checkpoint = _fixture.SignedCheckpoint();
        var lines = checkpoint.Split('\n');
        var lastSignature = lines[^2];
        var space = lastSignature.LastIndexOf(' ');
        var bytes = Convert.FromBase64String(lastSignature[(space + 1)..]);
        bytes[10] ^= 0x01;
        lines[^2] = lastSignature[..(space + 1)] + Convert.ToBase64String(bytes);
        AssertInvalid(_fixture.ReceiptFor(5, string.Join('\n', lines)).ToText(), "the signature of member 'member-b' does not verify");
    }

    [Fact]
    public void Another_origin()
    {
        var checkpoint = _fixture.SignedCheckpoint(origin: "ledger.test/other");
        AssertInvalid(_fixture.ReceiptFor(5, checkpoint).ToText(), "origin 'ledger.test/other' is not this consortium's origin 'ledger.test/badges'");
    }

    [Fact]
    public void Proof_one_hash_short_or_long()
    {
        var receipt = _fixture.ReceiptFor(5);
        AssertInvalid((receipt with { Proof = receipt.Proof.Skip(1).ToList() }).ToText(), "inclusion proof has 3 hashes (lines 4-6); leaf 5 in a tree of 13 needs exactly 4");
        AssertInvalid((receipt with { Proof = [.. receipt.Proof, receipt.Proof[0]] }).ToText(), "inclusion proof has 5 hashes");
    }

    [Fact]
    public void Index_at_or_beyond_the_tree_size()
    {
        var receipt = _fixture.ReceiptFor(12);
        AssertInvalid((receipt with { Index = 13 }).ToText(), "leaf index 13 is not below the checkpoint's tree size 13");
        AssertInvalid((receipt with { Index = ulong.MaxValue }).ToText(), "not below the checkpoint's tree size");
    }

    [Fact]
    public void Wrong_index_in_range_fails_the_proof()
    {
        var receipt = _fixture.ReceiptFor(4);
        AssertInvalid((receipt with { Index = 5 }).ToText(), "inclusion proof does not lead from the leaf to the checkpoint's root hash");
    }

    [Theory]
    [InlineData(0, 0x02, "line 2: leaf version is 0x02")]
    [InlineData(1, 0x07, "line 2: leaf kind is 0x07")]
    public void Leaf_of_another_version_or_kind(int offset, byte value, string reason)
    {
        var receipt = _fixture.ReceiptFor(5);
        var leaf = receipt.LeafBytes.ToArray();
        leaf[offset] = value;
        AssertInvalid((receipt with { LeafBytes = leaf }).ToText(), reason);
    }

    [Fact]
    public void Leaf_of_another_length()
    {
        var receipt = _fixture.ReceiptFor(5);
        AssertInvalid((receipt with { LeafBytes = [.. receipt.LeafBytes, 0] }).ToText(), "line 2: leaf has 54 bytes; with an issuer name of 10 bytes it must have 53");
    }

    [Fact]
    public void Bad_base64()
    {
        var text = ValidText();
        var lines = text.Split('\n');
        lines[1] = "extra " + lines[1][6..].Replace('A', '*');
        AssertInvalid(string.Join('\n', lines), "line 2: the leaf bytes after 'extra ' are not canonical base64");
        lines = text.Split('\n');
        lines[3] = lines[3][..^2] + " =";
        AssertInvalid(string.Join('\n', lines), "line 4: inclusion-proof hash 1 is not base64 of 32 bytes");
    }

    [Fact]
    public void Non_canonical_base64_is_rejected()
    {
        var lines = ValidText().Split('\n');
        var hash = lines[3];
        Assert.EndsWith("=", hash, StringComparison.Ordinal);
        // 32 bytes leave 2 unused bits in the last character before '='; setting one keeps the bytes but changes the text.
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        var last = alphabet.IndexOf(hash[^2], StringComparison.Ordinal);
        lines[3] = hash[..^2] + alphabet[last | 1] + "=";
        Assert.Equal(Convert.FromBase64String(hash), Convert.FromBase64String(lines[3]));
        AssertInvalid(string.Join('\n', lines), "line 4: inclusion-proof hash 1 is not base64 of 32 bytes");
    }

    [Fact]
    public void Empty_file()
    {
        AssertInvalid(string.Empty, "receipt is empty");
        Assert.Equal("receipt is empty", Verifier.Verify(ReadOnlySpan<byte>.Empty).Reason);
    }

    [Theory]
    [InlineData("c2sp.org/tlog-proof@v2\n", "line 1: expected the header")]
    [InlineData("c2sp.org/tlog-proof@v1\nindex 0\n", "line 2: expected 'extra <base64 leaf bytes>'")]
    [InlineData("c2sp.org/tlog-proof@v1\nextra AQ==\nindex 01\n", "line 3: the leaf index is not a decimal number")]
    [InlineData("c2sp.org/tlog-proof@v1\nextra AQ==\nindex -1\n", "line 3: the leaf index is not a decimal number")]
    [InlineData("c2sp.org/tlog-proof@v1\nextra AQ==\nindex 0\n", "line 4: the receipt ends before the empty line")]
    public void Structural_errors_name_the_line(string text, string reason) => AssertInvalid(text, reason);

    [Fact]
    public void Invalid_utf8_is_rejected()
    {
        var bytes = Encoding.UTF8.GetBytes(ValidText());
        var dash = Array.IndexOf(bytes, (byte)0xE2);
        bytes[dash + 1] = 0x20;
        Assert.Equal("receipt is not valid UTF-8 text", Verifier.Verify(bytes).Reason);
    }

    [Fact]
    public void Checkpoint_with_an_extension_line_is_not_v1()
    {
        var checkpoint = new Checkpoint(ReceiptFixture.Origin, _fixture.Tree.Size, _fixture.Tree.Root());
        var note = SignedNote.Sign(checkpoint.Body() + "extension\n", _fixture.MemberKeys.Take(2)).ToText();
        AssertInvalid(_fixture.ReceiptFor(5, note).ToText(), "checkpoint body has 4 lines");
    }

    [Fact]
    public void Surplus_signatures_beyond_the_quorum_from_non_members_are_ignored()
    {
        var stranger = ReceiptFixture.KeyFromLabel("stranger");
        var checkpoint = _fixture.SignedCheckpoint(signers: [stranger, .. _fixture.MemberKeys]);
        var result = Verifier.Verify(_fixture.ReceiptFor(5, checkpoint).ToText());
        Assert.True(result.IsValid, result.Reason);
        Assert.Equal(["member-a", "member-b", "member-c"], result.Signers);
    }

    [Fact]
    public void An_issuers_key_cannot_sign_as_a_member()
    {
        var issuerAsMember = SignerKey.FromSeed("member-b", System.Security.Cryptography.SHA256.HashData("seed:issuer-one"u8));
        var checkpoint = _fixture.SignedCheckpoint(signers: [_fixture.MemberKeys[0], issuerAsMember]);
        AssertInvalid(_fixture.ReceiptFor(5, checkpoint).ToText(), "is not the key of member 'member-b'");
    }
}
