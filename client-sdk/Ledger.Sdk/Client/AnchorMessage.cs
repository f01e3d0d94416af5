using System.Globalization;
using System.Text;

namespace Ledger.Sdk.Client;

/// <summary>
/// The bytes an issuer signs to anchor a batch of digests (ledger.proto, <c>Anchor</c>):
/// <c>"ledger.v1/anchor\n" origin "\n" issuer "\n" issuedAtMs "\n" hex(nonce) "\n" count "\n"</c>
/// followed by the 32-byte digests in request order. The domain prefix keeps the signature from
/// meaning anything else; the origin binds it to one ledger; issuer and nonce to one submission.
/// </summary>
public static class AnchorMessage
{
    /// <summary>The domain-separation prefix.</summary>
    public const string DomainPrefix = "ledger.v1/anchor\n";

    /// <summary>Length of one digest in bytes.</summary>
    public const int DigestLength = 32;

    /// <summary>Shortest nonce accepted, in bytes.</summary>
    public const int NonceLengthMin = 16;

    /// <summary>Longest nonce accepted, in bytes.</summary>
    public const int NonceLengthMax = 32;

    /// <summary>Builds the signed bytes. Every digest must be <see cref="DigestLength"/> bytes.</summary>
    public static byte[] Build(string origin, string issuer, ulong issuedAtMs, ReadOnlySpan<byte> nonce, IReadOnlyList<ReadOnlyMemory<byte>> digests)
    {
        ArgumentNullException.ThrowIfNull(origin);
        ArgumentNullException.ThrowIfNull(issuer);
        ArgumentNullException.ThrowIfNull(digests);
        var header = string.Create(
            CultureInfo.InvariantCulture,
            $"{DomainPrefix}{origin}\n{issuer}\n{issuedAtMs}\n{Convert.ToHexStringLower(nonce)}\n{digests.Count}\n");
        var headerLength = Encoding.UTF8.GetByteCount(header);
        var message = new byte[headerLength + (digests.Count * DigestLength)];
        Encoding.UTF8.GetBytes(header, message);
        var offset = headerLength;
        foreach (var digest in digests)
        {
            if (digest.Length != DigestLength)
            {
                throw new ArgumentException($"a digest has {DigestLength} bytes, not {digest.Length}", nameof(digests));
            }

            digest.Span.CopyTo(message.AsSpan(offset));
            offset += DigestLength;
        }

        Invariant.Check(offset == message.Length);
        return message;
    }
}
