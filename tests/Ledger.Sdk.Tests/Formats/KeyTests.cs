using Ledger.Sdk;
using Ledger.TestKit;

namespace Ledger.Sdk.Tests.Formats;

public sealed class KeyTests
{
    [Fact]
    public void Generated_key_round_trips_through_both_text_forms()
    {
        var key = SignerKey.Generate("member-a");
        var parsed = SignerKey.Parse(key.ToPrivateText());
        Assert.Equal(key.Verifier.ToString(), parsed.Verifier.ToString());
        var verifier = VerifierKey.Parse(key.Verifier.ToString());
        Assert.Equal(key.Id, verifier.Id);
        Assert.True(verifier.Verify("message"u8, key.Sign("message"u8)));
        Assert.False(verifier.Verify("messagf"u8, key.Sign("message"u8)));
    }

    [Fact]
    public void ToString_never_shows_the_private_key()
    {
        var key = SignerKey.Generate("issuer-x");
        Assert.DoesNotContain("PRIVATE", key.ToString(), StringComparison.Ordinal);
        Assert.Equal(key.Verifier.ToString(), key.ToString());
    }

    [Fact]
    public void Saved_key_file_is_owner_only_and_never_overwritten()
    {
        using var dir = new TempDirectory();
        var path = dir.File("member.key");
        var key = SignerKey.Generate("member-a");
        key.Save(path);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        }

        Assert.Equal(key.ToPrivateText(), SignerKey.Load(path).ToPrivateText());
        Assert.Throws<IOException>(() => SignerKey.Generate("member-b").Save(path));
        Assert.Equal(key.ToPrivateText(), SignerKey.Load(path).ToPrivateText());
    }

    [Fact]
    public void Key_whose_base64_contains_plus_signs_parses()
    {
        // Split on the first two '+' only: find a key whose base64 contains a '+'.
        for (var i = 0; i < 1000; i++)
        {
            var key = SignerKey.Generate("k" + i);
            var text = key.Verifier.ToString();
            if (text.Split('+').Length > 3)
            {
                Assert.Equal(text, VerifierKey.Parse(text).ToString());
                return;
            }
        }

        Assert.Fail("no key with '+' in its base64 among 1000");
    }

    public static TheoryData<string, string> BadVerifierKeys()
    {
        var good = ReceiptFixture.KeyFromLabel("member-a").Verifier.ToString();
        var parts = good.Split('+', 3);
        var other = ReceiptFixture.KeyFromLabel("member-b").Verifier.ToString().Split('+', 3);
        return new TheoryData<string, string>
        {
            { "member-a", "has the form" },
            { "member-a+" + parts[1], "has the form" },
            { $"Member-A+{parts[1]}+{parts[2]}", "name 'Member-A' is invalid" },
            { $"member-a+00000000+{parts[2]}", "does not match" },
            { $"member-a+{parts[1]}+{other[2]}", "does not match" },
            { $"member-a+{parts[1]}+AAAA", "not base64 of 33 bytes" },
            { $"member-a+{parts[1]}+{parts[2][..^1]}", "not base64 of 33 bytes" },
            { $"member-a+{parts[1]}+B{parts[2][1..]}", "algorithm byte 0x05" },
        };
    }

    [Theory]
    [MemberData(nameof(BadVerifierKeys))]
    public void Bad_verifier_keys_are_rejected_with_a_reason(string text, string reason)
    {
        var error = Assert.Throws<FormatException>(() => VerifierKey.Parse(text));
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("member-a+1234+AAAA", "starts with 'PRIVATE+KEY+'")]
    [InlineData("PRIVATE+KEY+member-a", "has the form")]
    [InlineData("PRIVATE+KEY+member-a+00000000+AQ==", "not base64 of 0x01")]
    public void Bad_signer_keys_are_rejected_with_a_reason(string text, string reason)
    {
        var error = Assert.Throws<FormatException>(() => SignerKey.Parse(text));
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Signer_key_with_a_wrong_id_is_rejected()
    {
        var text = ReceiptFixture.KeyFromLabel("member-a").ToPrivateText();
        var parts = text.Split('+', 5);
        var error = Assert.Throws<FormatException>(() => SignerKey.Parse($"PRIVATE+KEY+{parts[2]}+ffffffff+{parts[4]}"));
        Assert.Contains("does not match", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("a", true)]
    [InlineData("0member", true)]
    [InlineData("app-paris.eu_1", true)]
    [InlineData("", false)]
    [InlineData("-a", false)]
    [InlineData(".a", false)]
    [InlineData("A", false)]
    [InlineData("a b", false)]
    [InlineData("a+b", false)]
    [InlineData("é", false)]
    public void Names_follow_spec_section_1(string name, bool valid) => Assert.Equal(valid, Names.IsValid(name));

    [Fact]
    public void Names_are_at_most_63_characters()
    {
        Assert.True(Names.IsValid(new string('a', 63)));
        Assert.False(Names.IsValid(new string('a', 64)));
    }
}
