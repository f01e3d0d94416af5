using Ledger.Sdk;
using Ledger.Sdk.Client;

namespace Ledger.Cluster.Tests.Support;

/// <summary>Fetches the receipt of every acknowledged digest from one member and verifies each offline.</summary>
internal static class ReceiptCheck
{
    /// <summary>How many problems one check lists before it stops counting them one by one.</summary>
    private const int ProblemsListedMax = 20;

    /// <summary>
    /// Problems with the receipts <paramref name="client"/> serves for <paramref name="acknowledged"/>: missing,
    /// not valid for the consortium (quorum of member signatures), another digest, issuer or leaf index.
    /// Every receipt's checkpoint is passed to <paramref name="checkpointSeen"/>. When <paramref name="signersAllowed"/>
    /// is given, a signature of any other member is a problem too.
    /// </summary>
    public static async Task<IReadOnlyList<string>> ProblemsAsync(
        LedgerClient client,
        ReceiptVerifier verifier,
        IReadOnlyList<Acknowledged> acknowledged,
        Action<string>? checkpointSeen,
        IReadOnlySet<string>? signersAllowed,
        CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        var problemCount = 0;
        var quorum = verifier.Checkpoints.Consortium.Quorum;
        var checkpoints = new HashSet<string>(StringComparer.Ordinal);
        foreach (var group in acknowledged.GroupBy(ack => ack.Issuer, StringComparer.Ordinal))
        {
            var acks = group.ToArray();
            var receipts = await client.GetReceiptsAsync([.. acks.Select(ack => ack.Digest)], group.Key, cancellationToken);
            for (var i = 0; i < acks.Length; i++)
            {
                var problem = Problem(verifier, acks[i], receipts[i], quorum, signersAllowed, checkpoints);
                if (problem is not null && problemCount++ < ProblemsListedMax)
                {
                    problems.Add($"{Convert.ToHexStringLower(acks[i].Digest)} ({acks[i].Issuer}, leaf {acks[i].LeafIndex}): {problem}");
                }
            }
        }

        if (problemCount > ProblemsListedMax)
        {
            problems.Add($"... {problemCount - ProblemsListedMax} more, {problemCount} of {acknowledged.Count} receipts in all");
        }

        foreach (var checkpoint in checkpoints)
        {
            checkpointSeen?.Invoke(checkpoint);
        }

        return problems;
    }

    private static string? Problem(ReceiptVerifier verifier, Acknowledged ack, string? text, int quorum, IReadOnlySet<string>? signersAllowed, HashSet<string> checkpoints)
    {
        if (text is null)
        {
            return "no receipt (not found)";
        }

        if (!Receipt.TryParse(text, out var receipt, out var error))
        {
            return "receipt does not parse: " + error;
        }

        checkpoints.Add(receipt!.CheckpointNote);
        var result = verifier.Verify(receipt, ack.Digest);
        if (!result.IsValid)
        {
            return "INVALID: " + result.Reason;
        }

        if (result.Signers.Count < quorum)
        {
            return $"checkpoint signed by {result.Signers.Count} members, quorum is {quorum}";
        }

        var unexpected = signersAllowed is null ? [] : result.Signers.Where(signer => !signersAllowed.Contains(signer)).ToArray();
        if (unexpected.Length > 0)
        {
            return $"checkpoint of size {result.Checkpoint!.Size} signed by {string.Join(", ", unexpected)}, which could not have signed it";
        }

        if (result.Leaf!.Issuer != ack.Issuer)
        {
            return $"leaf issuer '{result.Leaf.Issuer}'";
        }

        return result.Index == ack.LeafIndex ? null : $"receipt for leaf {result.Index}, the anchor answered {ack.LeafIndex}";
    }
}
