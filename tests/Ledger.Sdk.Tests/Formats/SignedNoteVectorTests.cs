using System.Text;
using Ledger.Sdk;

namespace Ledger.Sdk.Tests.Formats;

/// <summary>
/// The published signed-note vector of Go's golang.org/x/mod/sumdb/note package documentation
/// (key "PeterNeumann", key ID c74f20a3). Its name has capitals, which SPEC §1 forbids for members and
/// issuers, so it is checked below the name rules: key IDs, key derivation, Ed25519 signing and note parsing.
/// </summary>
public sealed class SignedNoteVectorTests
{
    private const string SignerKeyText = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    private const string VerifierKeyText = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    private const string Text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    private const string SignatureLine = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=";

    private static SignerKey VectorKey()
    {
        var encoded = Convert.FromBase64String(SignerKeyText.Split('+', 5)[4]);
        Assert.Equal(1, encoded[0]);
        return SignerKey.FromSeedAnyName("PeterNeumann", encoded.AsSpan(1));
    }

    [Fact]
    public void Seed_derives_the_published_verifier_key_and_key_id()
    {
        var key = VectorKey();
        Assert.Equal(0xc74f20a3u, key.Id);
        Assert.Equal(VerifierKeyText, key.Verifier.ToString());
        Assert.Equal(SignerKeyText, key.ToPrivateText());
    }

    [Fact]
    public void Signing_the_text_reproduces_the_published_note()
    {
        var note = SignedNote.Sign(Text, [VectorKey()]);
        Assert.Equal(Text + "\n" + SignatureLine + "\n", note.ToText());
    }

    [Fact]
    public void Published_note_parses_and_its_signature_verifies()
    {
        Assert.True(SignedNote.TryParse(Text + "\n" + SignatureLine + "\n", 1, out var note, out var error), error);
        var signature = Assert.Single(note!.Signatures);
        Assert.Equal("PeterNeumann", signature.Name);
        Assert.Equal(0xc74f20a3u, signature.KeyId);
        Assert.Equal(4, signature.Line);
        Assert.True(VectorKey().Verifier.Verify(Encoding.UTF8.GetBytes(note.Body), signature.Signature));
        Assert.False(VectorKey().Verifier.Verify(Encoding.UTF8.GetBytes(note.Body + " "), signature.Signature));
    }

    [Theory]
    [InlineData("", "does not end with a newline")]
    [InlineData("text\n", "no empty line")]
    [InlineData("text\n\n", "no signature lines")]
    [InlineData("text\n\n- name AAAAAAA=\n", "em dash")]
    [InlineData("text\n\n— name\n", "form")]
    [InlineData("text\n\n— name !!!!\n", "not base64")]
    [InlineData("text\n\n— name AAAA\n", "not base64 of a key ID")]
    [InlineData("text\n\n— name AAAAAAA=", "does not end with a newline")]
    public void Malformed_notes_are_rejected_with_a_reason(string note, string reason)
    {
        Assert.False(SignedNote.TryParse(note, 1, out _, out var error));
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }
}
