using Ledger.Node.Sequencing;
using Ledger.Sdk;
using Ledger.Sdk.Client;

namespace Ledger.Node.Admission;

/// <summary>
/// Checks, on every member, that each submission in a committed batch was signed by its issuer: the
/// leader's admission is not taken on trust, so a member that leads cannot append digests under the
/// name of an issuer of the consortium file that the issuer never signed. A submission of such an
/// issuer that fails is dropped from the batch before apply. The check reads the entry bytes and the
/// consortium file's issuer keys, which every member holds alike: a key never changes in place
/// (a member refuses to start when it did), so every member drops the same submissions, at the
/// first apply and at any rebuild. A submission of an issuer the file does not name is applied
/// unverified: it may come from an issuer the leader's newer file already has (members add an
/// issuer one restart at a time), and dropping it on some members only would split their trees.
/// Thread-safe (read-only).
/// </summary>
internal sealed class EntryAuthenticator(string origin, IReadOnlyDictionary<string, VerifierKey> issuerKeys)
{
    /// <summary>True when the consortium file names <paramref name="issuer"/>, so that its submissions are verified.</summary>
    public bool Knows(string issuer) => issuerKeys.ContainsKey(issuer);

    /// <summary>
    /// Why <paramref name="entry"/> is not its issuer's, or null when its signature verifies or its
    /// issuer is not in the consortium file (<see cref="Knows"/>).
    /// </summary>
    public string? Refusal(AnchorEntry entry)
    {
        if (!issuerKeys.TryGetValue(entry.Issuer, out var key))
        {
            return null;
        }

        if (entry.Signature is not { Length: VerifierKey.SignatureLength } signature)
        {
            return "the entry carries no issuer signature";
        }

        var digests = new ReadOnlyMemory<byte>[entry.Digests.Count];
        for (var i = 0; i < digests.Length; i++)
        {
            digests[i] = entry.Digests[i];
        }

        return key.Verify(AnchorMessage.Build(origin, entry.Issuer, entry.IssuedAtMs, entry.Nonce, digests), signature)
            ? null
            : $"the signature does not verify with the key of issuer '{entry.Issuer}'";
    }

    /// <summary>
    /// <paramref name="batch"/> without the entries whose issuer did not sign them (the same batch
    /// when all did); <paramref name="dropped"/> hears of each one left out, and why.
    /// </summary>
    public Batch Authenticated(Batch batch, Action<AnchorEntry, string> dropped)
    {
        List<AnchorEntry>? kept = null;
        for (var e = 0; e < batch.Entries.Count; e++)
        {
            var entry = batch.Entries[e];
            var refusal = Refusal(entry);
            if (refusal is null)
            {
                kept?.Add(entry);
                continue;
            }

            kept ??= [.. batch.Entries.Take(e)];
            dropped(entry, refusal);
        }

        return kept is null ? batch : batch with { Entries = kept };
    }
}
