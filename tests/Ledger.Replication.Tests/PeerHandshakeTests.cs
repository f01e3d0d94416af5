using Ledger.Sdk;
using Ledger.TestKit;

namespace Ledger.Replication.Tests;

public sealed class PeerHandshakeTests
{
    private const ulong Now = 1_790_000_000_000;
    private static readonly TimeSpan Skew = TimeSpan.FromSeconds(30);
    private readonly ReceiptFixture _fixture = new(memberCount: 3, quorum: 2, leafCount: 1);

    private SignerKey A => _fixture.MemberKeys[0];

    private SignerKey B => _fixture.MemberKeys[1];

    private PeerAuthenticator AuthenticatorOf(string self, ulong now = Now) => new(_fixture.Consortium, self, Skew, () => now);

    private static void AssertRefused(PeerAuthenticator authenticator, string? header, string reason)
    {
        Assert.False(authenticator.TryVerifyCaller(header, out var identity, out var error));
        Assert.Null(identity);
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Both_members_prove_their_keys_over_one_nonce()
    {
        var atB = AuthenticatorOf("member-b");
        var header = PeerHandshake.CallerHeader(A, ReceiptFixture.Origin, "member-b", Now).Header;
        Assert.True(atB.TryVerifyCaller(header, out var caller, out var error), error);
        Assert.Equal("member-a", caller!.MemberId);

        var answer = PeerHandshake.CalleeHeader(B, ReceiptFixture.Origin, "member-a", Now + 5, caller.Nonce);
        var atA = AuthenticatorOf("member-a");
        Assert.True(atA.TryVerifyCallee(answer, caller.Nonce, out var callee, out error), error);
        Assert.Equal("member-b", callee!.MemberId);
        Assert.False(atA.TryVerifyCallee(answer, new byte[PeerHandshake.NonceLength], out _, out error));
        Assert.Contains("does not carry this call's nonce", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_replayed_header_is_refused() =>
        ReplayOnce(AuthenticatorOf("member-b"), PeerHandshake.CallerHeader(A, ReceiptFixture.Origin, "member-b", Now).Header);

    private static void ReplayOnce(PeerAuthenticator authenticator, string header)
    {
        Assert.True(authenticator.TryVerifyCaller(header, out _, out _));
        AssertRefused(authenticator, header, "nonce of 'member-a' was already used");
    }

    [Fact]
    public void A_non_member_is_refused()
    {
        var stranger = SignerKey.Generate("member-z");
        AssertRefused(AuthenticatorOf("member-b"), PeerHandshake.CallerHeader(stranger, ReceiptFixture.Origin, "member-b", Now).Header, "'member-z' is not a member");
    }

    [Fact]
    public void A_member_name_with_a_wrong_key_is_refused()
    {
        var impostor = SignerKey.Generate("member-a");
        AssertRefused(AuthenticatorOf("member-b"), PeerHandshake.CallerHeader(impostor, ReceiptFixture.Origin, "member-b", Now).Header, "does not verify with the key of member 'member-a'");
    }

    [Fact]
    public void An_issuers_key_cannot_act_as_a_member()
    {
        AssertRefused(AuthenticatorOf("member-b"), PeerHandshake.CallerHeader(_fixture.IssuerKey, ReceiptFixture.Origin, "member-b", Now).Header, "'issuer-one' is not a member");
        var issuerAsMember = SignerKey.FromSeed("member-a", System.Security.Cryptography.SHA256.HashData("seed:issuer-one"u8));
        AssertRefused(AuthenticatorOf("member-b"), PeerHandshake.CallerHeader(issuerAsMember, ReceiptFixture.Origin, "member-b", Now).Header, "does not verify");
    }

    [Fact]
    public void A_header_for_another_member_or_ledger_or_role_is_refused()
    {
        var atB = AuthenticatorOf("member-b");
        AssertRefused(atB, PeerHandshake.CallerHeader(A, ReceiptFixture.Origin, "member-c", Now).Header, "does not verify");
        AssertRefused(atB, PeerHandshake.CallerHeader(A, "ledger.test/other", "member-b", Now).Header, "does not verify");
        AssertRefused(atB, PeerHandshake.CalleeHeader(A, ReceiptFixture.Origin, "member-b", Now, new byte[PeerHandshake.NonceLength]), "does not verify");
    }

    [Fact]
    public void A_header_outside_the_clock_skew_is_refused()
    {
        var header = PeerHandshake.CallerHeader(A, ReceiptFixture.Origin, "member-b", Now).Header;
        AssertRefused(AuthenticatorOf("member-b", Now + 31_000), header, "more than 30000 ms from this node's clock");
        AssertRefused(AuthenticatorOf("member-b", Now - 31_000), header, "more than 30000 ms");
        Assert.True(AuthenticatorOf("member-b", Now + 29_000).TryVerifyCaller(header, out _, out _));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("member-a 1 2")]
    [InlineData("member-a x 00112233445566778899aabbccddeeff AAAA")]
    [InlineData("member-a 1790000000000 0011 AAAA")]
    [InlineData("member-a 1790000000000 00112233445566778899AABBCCDDEEFF AAAA")]
    public void Malformed_headers_are_refused(string? header)
    {
        Assert.False(AuthenticatorOf("member-b").TryVerifyCaller(header, out _, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void Handshake_bytes_can_never_be_a_checkpoint_body()
    {
        var message = System.Text.Encoding.UTF8.GetString(
            PeerHandshake.Message(ReceiptFixture.Origin, "member-a", "member-b", 1, new byte[16], PeerHandshake.Role.Caller));
        Assert.False(Checkpoint.TryParseBody(message, 1, out _, out _));
        Assert.False(Checkpoint.IsValidOrigin(message.Split('\n')[0]));
    }
}
