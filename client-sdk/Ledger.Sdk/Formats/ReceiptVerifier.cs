using Ledger.Sdk.Merkle;

namespace Ledger.Sdk;

/// <summary>The outcome of verifying a receipt.</summary>
/// <param name="IsValid">True when every check of SPEC §6 passed.</param>
/// <param name="Reason">Which check failed and where; empty when valid.</param>
/// <param name="Leaf">The decoded leaf, when it decoded.</param>
/// <param name="Index">The leaf index the receipt claims.</param>
/// <param name="Checkpoint">The checkpoint, when it parsed.</param>
/// <param name="Signers">Members whose signatures counted toward the quorum.</param>
public sealed record ReceiptVerification(
    bool IsValid, string Reason, Leaf? Leaf, ulong Index, Checkpoint? Checkpoint, IReadOnlyList<string> Signers);

/// <summary>
/// Offline receipt verification (SPEC §6): needs nothing but the consortium. Thread-safe; checkpoint
/// signatures are verified once per distinct checkpoint (see <see cref="CheckpointVerifier"/>).
/// </summary>
public sealed class ReceiptVerifier
{
    /// <summary>Creates a verifier for one consortium.</summary>
    public ReceiptVerifier(Consortium consortium) => Checkpoints = new CheckpointVerifier(consortium);

    /// <summary>The checkpoint verifier this receipt verifier shares its cache with.</summary>
    public CheckpointVerifier Checkpoints { get; }

    /// <summary>Verifies a receipt file's bytes; when <paramref name="expectedDigest"/> is given, the leaf must carry it.</summary>
    public ReceiptVerification Verify(ReadOnlySpan<byte> receiptBytes, ReadOnlySpan<byte> expectedDigest = default)
    {
        return Receipt.TryParse(receiptBytes, out var receipt, out var error)
            ? Verify(receipt!, expectedDigest)
            : new ReceiptVerification(false, error, null, 0, null, []);
    }

    /// <summary>Verifies receipt text; when <paramref name="expectedDigest"/> is given, the leaf must carry it.</summary>
    public ReceiptVerification Verify(string receiptText, ReadOnlySpan<byte> expectedDigest = default)
    {
        return Receipt.TryParse(receiptText, out var receipt, out var error)
            ? Verify(receipt!, expectedDigest)
            : new ReceiptVerification(false, error, null, 0, null, []);
    }

    /// <summary>Verifies a parsed receipt.</summary>
    public ReceiptVerification Verify(Receipt receipt, ReadOnlySpan<byte> expectedDigest = default)
    {
        ArgumentNullException.ThrowIfNull(receipt);
        if (!Leaf.TryDecode(receipt.LeafBytes, out var leaf, out var error))
        {
            return Fail("line 2: " + error, null, receipt.Index, null);
        }

        var checkpointLine = 5 + receipt.Proof.Count;
        var signed = Checkpoints.Verify(receipt.CheckpointNote, checkpointLine);
        if (!signed.IsValid)
        {
            return Fail(signed.Reason, leaf, receipt.Index, signed.Checkpoint);
        }

        var checkpoint = signed.Checkpoint!;
        if (receipt.Index >= checkpoint.Size)
        {
            return Fail($"line 3: leaf index {receipt.Index} is not below the checkpoint's tree size {checkpoint.Size}", leaf, receipt.Index, checkpoint);
        }

        var expectedLength = MerkleProof.InclusionProofLength(receipt.Index, checkpoint.Size);
        if (receipt.Proof.Count != expectedLength)
        {
            return Fail(
                $"inclusion proof has {receipt.Proof.Count} hashes (lines 4-{3 + receipt.Proof.Count}); leaf {receipt.Index} in a tree of {checkpoint.Size} needs exactly {expectedLength}",
                leaf, receipt.Index, checkpoint);
        }

        var leafHash = MerkleHash.Leaf(receipt.LeafBytes);
        if (!MerkleProof.VerifyInclusion(receipt.Index, checkpoint.Size, leafHash, receipt.Proof, checkpoint.Root))
        {
            return Fail("inclusion proof does not lead from the leaf to the checkpoint's root hash", leaf, receipt.Index, checkpoint);
        }

        if (!expectedDigest.IsEmpty && !expectedDigest.SequenceEqual(leaf!.Digest))
        {
            return Fail(
                $"the receipt is for digest {leaf.DigestHex}, not for {Convert.ToHexStringLower(expectedDigest)}",
                leaf, receipt.Index, checkpoint);
        }

        return new ReceiptVerification(true, string.Empty, leaf, receipt.Index, checkpoint, signed.Signers);
    }

    private static ReceiptVerification Fail(string reason, Leaf? leaf, ulong index, Checkpoint? checkpoint) =>
        new(false, reason, leaf, index, checkpoint, []);
}
