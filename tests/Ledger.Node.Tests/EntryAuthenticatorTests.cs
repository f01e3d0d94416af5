using System.Security.Cryptography;
using Ledger.Node.Admission;
using Ledger.Node.Sequencing;
using Ledger.Sdk;
using Ledger.Sdk.Client;

namespace Ledger.Node.Tests;

/// <summary>Every member checks each committed submission's issuer signature itself; what fails is left out, in order.</summary>
public sealed class EntryAuthenticatorTests
{
    private const string Origin = "ledger.example/entries";
    private static readonly SignerKey Issuer = SignerKey.Generate("issuer-a");
    private static readonly SignerKey Other = SignerKey.Generate("issuer-b");
    private static readonly EntryAuthenticator Authenticator = new(Origin, new Dictionary<string, VerifierKey>
    {
        [Issuer.Name] = Issuer.Verifier,
        [Other.Name] = Other.Verifier,
    });

    private static AnchorEntry Signed(SignerKey key, string? issuer = null, string origin = Origin, int digests = 3)
    {
        var name = issuer ?? key.Name;
        var nonce = RandomNumberGenerator.GetBytes(16);
        var list = Enumerable.Range(0, digests).Select(_ => RandomNumberGenerator.GetBytes(32)).ToArray();
        var signature = key.Sign(AnchorMessage.Build(origin, name, 1_000, nonce, list.Select(d => (ReadOnlyMemory<byte>)d).ToArray()));
        return new AnchorEntry(name, 1_000, nonce, list, signature);
    }

    [Fact]
    public void An_entry_signed_by_its_issuer_passes()
    {
        Assert.Null(Authenticator.Refusal(Signed(Issuer)));
        Assert.Null(Authenticator.Refusal(Signed(Other)));
    }

    [Fact]
    public void Every_change_to_a_signed_entry_and_every_wrong_signer_is_refused()
    {
        var entry = Signed(Issuer);
        var cases = new Dictionary<string, (AnchorEntry Entry, string Refusal)>
        {
            ["a digest changed"] = (entry with { Digests = [entry.Digests[0], RandomNumberGenerator.GetBytes(32), entry.Digests[2]] }, "does not verify"),
            ["a digest left out"] = (entry with { Digests = entry.Digests.Take(2).ToArray() }, "does not verify"),
            ["another time"] = (entry with { IssuedAtMs = 1_001 }, "does not verify"),
            ["another nonce"] = (entry with { Nonce = RandomNumberGenerator.GetBytes(16) }, "does not verify"),
            ["signed by another issuer's key"] = (Signed(Other, issuer: Issuer.Name), "does not verify"),
            ["signed for another ledger"] = (Signed(Issuer, origin: "ledger.example/other"), "does not verify"),
            ["put under another issuer's name"] = (entry with { Issuer = Other.Name }, "does not verify"),
            ["no signature"] = (entry with { Signature = null }, "carries no issuer signature"),
            ["an empty signature"] = (entry with { Signature = [] }, "carries no issuer signature"),
            ["a short signature"] = (entry with { Signature = entry.Signature![..63] }, "carries no issuer signature"),
        };

        foreach (var (name, (changed, refusal)) in cases)
        {
            var said = Authenticator.Refusal(changed);
            Assert.True(said?.Contains(refusal, StringComparison.Ordinal) == true, $"{name}: {said ?? "passed"}");
        }
    }

    [Fact]
    public void A_submission_of_an_issuer_the_file_does_not_name_is_kept_unverified()
    {
        var stranger = Signed(SignerKey.Generate("issuer-z"));
        Assert.False(Authenticator.Knows("issuer-z"));
        Assert.True(Authenticator.Knows(Issuer.Name));
        Assert.Null(Authenticator.Refusal(stranger));
        Assert.Null(Authenticator.Refusal(stranger with { Signature = null }));
    }

    [Fact]
    public void A_batch_keeps_its_signed_entries_in_order_and_hears_of_each_left_out()
    {
        var first = Signed(Issuer);
        var second = Signed(Other);
        var allSigned = new Batch(9, [first, second]);
        Assert.Same(allSigned, Authenticator.Authenticated(allSigned, (_, refusal) => Assert.Fail(refusal)));

        var forged = first with { Digests = [RandomNumberGenerator.GetBytes(32)] };
        var unsigned = second with { Signature = null };
        var dropped = new List<AnchorEntry>();
        var kept = Authenticator.Authenticated(new Batch(9, [forged, first, unsigned, second]), (entry, _) => dropped.Add(entry));

        Assert.Equal(9UL, kept.TimestampMs);
        Assert.Equal([first, second], kept.Entries);
        Assert.Equal([forged, unsigned], dropped);
    }
}
