using System.Collections.Concurrent;
using System.Text;

namespace Ledger.Sdk;

/// <summary>The outcome of verifying a signed checkpoint against a consortium.</summary>
/// <param name="IsValid">True when the checkpoint carries a quorum of valid member signatures.</param>
/// <param name="Reason">Why it is invalid; empty when valid.</param>
/// <param name="Checkpoint">The parsed body, when it parsed.</param>
/// <param name="Signers">Members whose valid signatures counted, in signature order.</param>
public sealed record CheckpointVerification(bool IsValid, string Reason, Checkpoint? Checkpoint, IReadOnlyList<string> Signers)
{
    internal static CheckpointVerification Invalid(string reason, Checkpoint? checkpoint = null) => new(false, reason, checkpoint, []);
}

/// <summary>
/// Verifies signed checkpoints (SPEC §5) against one consortium: the origin must match; signature
/// lines whose name and key ID match no member are ignored; a matching signature that does not
/// verify invalidates the checkpoint; at least <see cref="Consortium.Quorum"/> distinct members must sign.
/// Valid results are remembered (bounded), so many receipts under one checkpoint check its signatures once.
/// Thread-safe.
/// </summary>
public sealed class CheckpointVerifier
{
    /// <summary>How many verified checkpoints are remembered before the memory is cleared.</summary>
    public const int VerifiedCacheEntriesMax = 1024;

    private readonly ConcurrentDictionary<string, CheckpointVerification> _verified = new(StringComparer.Ordinal);
    private long _signatureChecks;

    /// <summary>Creates a verifier for one consortium.</summary>
    public CheckpointVerifier(Consortium consortium) => Consortium = consortium;

    /// <summary>The consortium checkpoints are verified against.</summary>
    public Consortium Consortium { get; }

    /// <summary>How many Ed25519 signature checks this verifier has made.</summary>
    internal long SignatureChecks => Interlocked.Read(ref _signatureChecks);

    /// <summary>Verifies the text of a signed checkpoint; <paramref name="firstLine"/> numbers its first line in error messages.</summary>
    public CheckpointVerification Verify(string noteText, int firstLine = 1)
    {
        if (_verified.TryGetValue(noteText, out var known))
        {
            return Detached(known);
        }

        var result = VerifyUncached(noteText, firstLine);
        if (result.IsValid)
        {
            if (_verified.Count >= VerifiedCacheEntriesMax)
            {
                _verified.Clear();
            }

            _verified[noteText] = Detached(result);
        }

        return result;
    }

    /// <summary>A copy whose root array no caller shares with the cache (a caller may change what it gets).</summary>
    private static CheckpointVerification Detached(CheckpointVerification result) =>
        result with { Checkpoint = result.Checkpoint! with { Root = (byte[])result.Checkpoint.Root.Clone() } };

    private CheckpointVerification VerifyUncached(string noteText, int firstLine)
    {
        if (!SignedNote.TryParse(noteText, firstLine, out var note, out var error))
        {
            return CheckpointVerification.Invalid(error);
        }

        if (!Checkpoint.TryParseBody(note!.Body, firstLine, out var checkpoint, out error))
        {
            return CheckpointVerification.Invalid(error);
        }

        if (!string.Equals(checkpoint!.Origin, Consortium.Origin, StringComparison.Ordinal))
        {
            return CheckpointVerification.Invalid(
                $"line {firstLine}: checkpoint origin '{checkpoint.Origin}' is not this consortium's origin '{Consortium.Origin}'", checkpoint);
        }

        return CountSignatures(note, checkpoint);
    }

    private CheckpointVerification CountSignatures(SignedNote note, Checkpoint checkpoint)
    {
        var body = Encoding.UTF8.GetBytes(note.Body);
        var signers = new List<string>(note.Signatures.Count);
        var ignored = new List<string>();
        foreach (var signature in note.Signatures)
        {
            var member = Consortium.FindMember(signature.Name);
            if (member is null)
            {
                ignored.Add($"line {signature.Line}: '{signature.Name}' is not a member");
                continue;
            }

            if (member.Key.Id != signature.KeyId)
            {
                ignored.Add($"line {signature.Line}: key ID {KeyId.ToHex(signature.KeyId)} is not the key of member '{member.Id}'");
                continue;
            }

            Interlocked.Increment(ref _signatureChecks);
            if (!member.Key.Verify(body, signature.Signature))
            {
                return CheckpointVerification.Invalid(
                    $"line {signature.Line}: the signature of member '{member.Id}' does not verify", checkpoint);
            }

            if (signers.Contains(member.Id))
            {
                ignored.Add($"line {signature.Line}: member '{member.Id}' signed more than once; it counts once");
                continue;
            }

            signers.Add(member.Id);
        }

        if (signers.Count < Consortium.Quorum)
        {
            var detail = ignored.Count == 0 ? string.Empty : " (" + string.Join("; ", ignored) + ")";
            return CheckpointVerification.Invalid(
                $"checkpoint has valid signatures of {signers.Count} distinct member(s); the consortium's quorum is {Consortium.Quorum}{detail}",
                checkpoint);
        }

        return new CheckpointVerification(true, string.Empty, checkpoint, signers);
    }
}
