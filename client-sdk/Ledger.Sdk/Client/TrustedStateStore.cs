using LiteDB;
using Ledger.Sdk.Merkle;

namespace Ledger.Sdk.Client;

/// <summary>The outcome of offering a checkpoint to the <see cref="TrustedStateStore"/>.</summary>
public enum TrustDecision
{
    /// <summary>First checkpoint seen for this ledger: now trusted.</summary>
    TrustedFirst,

    /// <summary>Newer and proved consistent with the trusted one: now trusted.</summary>
    Advanced,

    /// <summary>Same tree as the trusted one, or older (kept the trusted one).</summary>
    Unchanged,

    /// <summary>Refused: bad signatures, or not consistent with the trusted checkpoint (a rewritten history).</summary>
    Rejected,
}

/// <summary>The decision and, when rejected, why.</summary>
public sealed record TrustUpdate(TrustDecision Decision, string Reason, Checkpoint? Trusted);

/// <summary>
/// Remembers, per ledger origin, the last checkpoint this client verified (LiteDB file). A newer
/// checkpoint replaces it only with a valid consistency proof from the trusted size to the new
/// one, so a node that rewrites history is noticed. Thread-safe.
/// </summary>
public sealed class TrustedStateStore : IDisposable
{
    private const string CollectionName = "trusted";
    private readonly LiteDatabase _database;
    private readonly ILiteCollection<TrustedDocument> _trusted;
    private readonly Lock _lock = new();

    /// <summary>Opens (creating if needed) the store at <paramref name="path"/>.</summary>
    public TrustedStateStore(string path)
    {
        // LiteDB trims strings by default; a signed note ends with a newline that must be kept.
        var mapper = new BsonMapper { TrimWhitespace = false, EmptyStringToNull = false };
        _database = new LiteDatabase(new ConnectionString { Filename = path, Connection = ConnectionType.Direct }, mapper);
        _trusted = _database.GetCollection<TrustedDocument>(CollectionName);
    }

    /// <summary>The trusted checkpoint text of <paramref name="origin"/>, or null.</summary>
    public string? GetTrustedText(string origin)
    {
        lock (_lock)
        {
            return _trusted.FindById(origin)?.Text;
        }
    }

    /// <summary>
    /// Offers a signed checkpoint. It must verify against the consortium; if a checkpoint is
    /// trusted already, a larger one needs a consistency proof, obtained from
    /// <paramref name="consistencyProof"/>(trustedSize, newSize), and an equal size needs the same root.
    /// </summary>
    public async Task<TrustUpdate> OfferAsync(
        string checkpointText,
        CheckpointVerifier verifier,
        Func<ulong, ulong, CancellationToken, Task<IReadOnlyList<byte[]>>> consistencyProof,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(verifier);
        ArgumentNullException.ThrowIfNull(consistencyProof);
        var verification = verifier.Verify(checkpointText);
        if (!verification.IsValid)
        {
            return new TrustUpdate(TrustDecision.Rejected, "checkpoint: " + verification.Reason, null);
        }

        var offered = verification.Checkpoint!;
        var trustedText = GetTrustedText(offered.Origin);
        if (trustedText is null)
        {
            Save(offered.Origin, checkpointText);
            return new TrustUpdate(TrustDecision.TrustedFirst, "", offered);
        }

        var trustedVerification = verifier.Verify(trustedText);
        Invariant.Check(trustedVerification.IsValid);
        var trusted = trustedVerification.Checkpoint!;
        if (offered.Size <= trusted.Size)
        {
            return Compare(offered, trusted);
        }

        var proof = trusted.Size == 0 ? [] : await consistencyProof(trusted.Size, offered.Size, cancellationToken);
        if (trusted.Size > 0 && !MerkleProof.VerifyConsistency(trusted.Size, offered.Size, trusted.Root, offered.Root, proof))
        {
            return new TrustUpdate(
                TrustDecision.Rejected,
                $"the checkpoint of size {offered.Size} is not consistent with the trusted checkpoint of size {trusted.Size}: the log's history was rewritten",
                trusted);
        }

        Save(offered.Origin, checkpointText);
        return new TrustUpdate(TrustDecision.Advanced, "", offered);
    }

    /// <summary>Closes the file.</summary>
    public void Dispose() => _database.Dispose();

    private static TrustUpdate Compare(Checkpoint offered, Checkpoint trusted)
    {
        if (offered.Size == trusted.Size && !offered.Root.AsSpan().SequenceEqual(trusted.Root))
        {
            return new TrustUpdate(
                TrustDecision.Rejected,
                $"the checkpoint of size {offered.Size} has a different root than the trusted one of the same size: the log forked",
                trusted);
        }

        return new TrustUpdate(TrustDecision.Unchanged, offered.Size < trusted.Size ? "older than the trusted checkpoint" : "", trusted);
    }

    private void Save(string origin, string text)
    {
        lock (_lock)
        {
            _trusted.Upsert(new TrustedDocument { Id = origin, Text = text });
        }
    }

    internal sealed class TrustedDocument
    {
        public string Id { get; set; } = "";

        public string Text { get; set; } = "";
    }
}
