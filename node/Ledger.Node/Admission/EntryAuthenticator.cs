using Ledger.Node.Sequencing;
using Ledger.Sdk;
using Ledger.Sdk.Client;

namespace Ledger.Node.Admission;

/// <summary>
/// Checks, on every member, that each submission in a committed batch was signed by its issuer: the
/// leader's admission is not taken on trust, so a member that leads cannot append digests under an
/// issuer's name that the issuer never signed. A submission that fails is dropped from the batch
/// before apply; the check depends on the entry bytes and the consortium file alone, so every
/// member drops the same ones and their trees stay equal. Thread-safe (read-only).
/// </summary>
internal sealed class EntryAuthenticator(string origin, IReadOnlyDictionary<string, VerifierKey> issuerKeys)
{
    /// <summary>Why <paramref name="entry"/> is not its issuer's, or null when its signature verifies.</summary>
    public string? Refusal(AnchorEntry entry)
    {
        if (!issuerKeys.TryGetValue(entry.Issuer, out var key))
        {
            return $"issuer '{entry.Issuer}' is not in the consortium file";
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
