using Grpc.Core;
using Ledger.Node.Sequencing;
using Ledger.Sdk;
using Ledger.Sdk.Client;
using Ledger.Sdk.Protos.V1;

namespace Ledger.Node.Admission;

/// <summary>The outcome of admission: an entry for the batcher, or a status that says what to fix.</summary>
internal sealed record AdmissionResult(AnchorEntry? Entry, StatusCode Code, string Message)
{
    public static AdmissionResult Accept(AnchorEntry entry) => new(entry, StatusCode.OK, "");

    public static AdmissionResult Refuse(StatusCode code, string message) => new(null, code, message);
}

/// <summary>
/// Admission rules for <c>Anchor</c> (ledger.proto): shape, known issuer, signature, clock window,
/// fresh nonce. Pure apart from the nonce reservation; a refused request changes nothing.
/// </summary>
internal sealed class AnchorAdmission
{
    private readonly string _origin;
    private readonly IReadOnlyDictionary<string, VerifierKey> _issuerKeys;
    private readonly NonceRegistry _nonces;
    private readonly int _digestsPerRequestMax;
    private readonly ulong _nonceWindowMs;
    private readonly Func<ulong> _nowMs;

    public AnchorAdmission(
        string origin,
        IReadOnlyDictionary<string, VerifierKey> issuerKeys,
        NonceRegistry nonces,
        int digestsPerRequestMax,
        ulong nonceWindowMs,
        Func<ulong> nowMs)
    {
        _origin = origin;
        _issuerKeys = issuerKeys;
        _nonces = nonces;
        _digestsPerRequestMax = digestsPerRequestMax;
        _nonceWindowMs = nonceWindowMs;
        _nowMs = nowMs;
    }

    public AdmissionResult Admit(AnchorRequest request)
    {
        var shape = CheckShape(request);
        if (shape is not null)
        {
            return shape;
        }

        if (!_issuerKeys.TryGetValue(request.Issuer, out var key))
        {
            return AdmissionResult.Refuse(
                StatusCode.Unauthenticated,
                $"issuer '{request.Issuer}' is not in the consortium file of ledger '{_origin}'; ask the members to add it");
        }

        var digests = new byte[request.Digests.Count][];
        var memories = new ReadOnlyMemory<byte>[digests.Length];
        for (var i = 0; i < digests.Length; i++)
        {
            digests[i] = request.Digests[i].ToByteArray();
            memories[i] = digests[i];
        }

        var message = AnchorMessage.Build(_origin, request.Issuer, request.IssuedAtMs, request.Nonce.Span, memories);
        if (!key.Verify(message, request.Signature.Span))
        {
            return AdmissionResult.Refuse(
                StatusCode.Unauthenticated,
                $"the signature does not verify with the key of issuer '{request.Issuer}' for ledger '{_origin}': sign the ledger.v1/anchor message with the issuer's current key");
        }

        return CheckFreshness(request, digests);
    }

    private AdmissionResult? CheckShape(AnchorRequest request)
    {
        if (request.Digests.Count == 0)
        {
            return AdmissionResult.Refuse(StatusCode.InvalidArgument, "the request has no digests: send 1 or more 32-byte SHA-256 digests");
        }

        if (request.Digests.Count > _digestsPerRequestMax)
        {
            return AdmissionResult.Refuse(
                StatusCode.InvalidArgument,
                $"the request has {request.Digests.Count} digests, more than this node's maximum of {_digestsPerRequestMax}: split it into several requests");
        }

        for (var i = 0; i < request.Digests.Count; i++)
        {
            if (request.Digests[i].Length != AnchorMessage.DigestLength)
            {
                return AdmissionResult.Refuse(
                    StatusCode.InvalidArgument,
                    $"digest #{i} has {request.Digests[i].Length} bytes: a digest is the 32-byte SHA-256 of the credential");
            }
        }

        if (request.Nonce.Length is < AnchorMessage.NonceLengthMin or > AnchorMessage.NonceLengthMax)
        {
            return AdmissionResult.Refuse(
                StatusCode.InvalidArgument,
                $"the nonce has {request.Nonce.Length} bytes: use {AnchorMessage.NonceLengthMin} to {AnchorMessage.NonceLengthMax} random bytes");
        }

        if (request.Signature.Length != VerifierKey.SignatureLength)
        {
            return AdmissionResult.Refuse(
                StatusCode.InvalidArgument,
                $"the signature has {request.Signature.Length} bytes: an Ed25519 signature has {VerifierKey.SignatureLength}");
        }

        return null;
    }

    private AdmissionResult CheckFreshness(AnchorRequest request, byte[][] digests)
    {
        var nowMs = _nowMs();
        var skewMs = nowMs > request.IssuedAtMs ? nowMs - request.IssuedAtMs : request.IssuedAtMs - nowMs;
        if (skewMs > _nonceWindowMs)
        {
            return AdmissionResult.Refuse(
                StatusCode.FailedPrecondition,
                $"issued_at_ms {request.IssuedAtMs} is {skewMs} ms away from the node's clock ({nowMs}); the window is {_nonceWindowMs} ms: check the issuer's clock and sign again");
        }

        if (_nonces.IsFull)
        {
            return AdmissionResult.Refuse(StatusCode.ResourceExhausted, "the node holds the maximum number of recent nonces: retry in a few seconds");
        }

        if (!_nonces.TryReserve(request.Issuer, request.Nonce.Span, request.IssuedAtMs))
        {
            return AdmissionResult.Refuse(
                StatusCode.AlreadyExists,
                $"nonce {Convert.ToHexStringLower(request.Nonce.Span)} was already used by issuer '{request.Issuer}': this request is a replay; sign a new request with a fresh random nonce");
        }

        var nonce = request.Nonce.ToByteArray();
        return AdmissionResult.Accept(new AnchorEntry(request.Issuer, request.IssuedAtMs, nonce, digests, request.Signature.ToByteArray()));
    }

    /// <summary>Undoes the nonce reservation of an admitted entry that never reached the log.</summary>
    public void Release(AnchorEntry entry) => _nonces.Release(entry.Issuer, entry.Nonce);
}
