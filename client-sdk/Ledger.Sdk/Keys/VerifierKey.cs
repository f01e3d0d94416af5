using Org.BouncyCastle.Math.EC.Rfc8032;

namespace Ledger.Sdk;

/// <summary>
/// An Ed25519 public key with its name, in the signed-note verifier key format (SPEC §1):
/// <c>&lt;name&gt;+&lt;keyid hex&gt;+&lt;base64(0x01 || public key)&gt;</c>.
/// </summary>
public sealed class VerifierKey
{
    /// <summary>Length of an Ed25519 public key in bytes.</summary>
    public const int PublicKeyLength = 32;

    /// <summary>Length of an Ed25519 signature in bytes.</summary>
    public const int SignatureLength = 64;

    private readonly byte[] _publicKey;
    private readonly Ed25519.PublicPoint _point;

    private VerifierKey(string name, byte[] publicKey, Ed25519.PublicPoint point)
    {
        Name = name;
        _publicKey = publicKey;
        _point = point;
        Id = KeyId.Compute(name, publicKey);
    }

    /// <summary>The member or issuer name the key is bound to.</summary>
    public string Name { get; }

    /// <summary>The key ID (SPEC §1).</summary>
    public uint Id { get; }

    /// <summary>The 32-byte Ed25519 public key.</summary>
    public ReadOnlySpan<byte> PublicKey => _publicKey;

    /// <summary>Builds a verifier key from a name and a raw public key.</summary>
    public static VerifierKey FromPublicKey(string name, ReadOnlySpan<byte> publicKey)
    {
        Names.Validate(name, "key");
        return FromPublicKeyAnyName(name, publicKey);
    }

    /// <summary>
    /// As <see cref="FromPublicKey"/> but for any signed-note key name, including names that SPEC §1
    /// does not allow for members and issuers (used to check published signed-note vectors).
    /// </summary>
    internal static VerifierKey FromPublicKeyAnyName(string name, ReadOnlySpan<byte> publicKey)
    {
        if (publicKey.Length != PublicKeyLength)
        {
            throw new FormatException($"an Ed25519 public key has {PublicKeyLength} bytes, not {publicKey.Length}");
        }

        var point = Ed25519.ValidatePublicKeyPartialExport(publicKey)
            ?? throw new FormatException("the public key is not a valid Ed25519 point");
        return new VerifierKey(name, publicKey.ToArray(), point);
    }

    /// <summary>Parses the one-line verifier key text; throws <see cref="FormatException"/> saying what is wrong.</summary>
    public static VerifierKey Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var trimmed = text.Trim();
        // Split on the first two '+' only: base64 may itself contain '+'.
        var first = trimmed.IndexOf('+', StringComparison.Ordinal);
        var second = first < 0 ? -1 : trimmed.IndexOf('+', first + 1);
        if (first < 0 || second < 0)
        {
            throw new FormatException("a verifier key has the form <name>+<keyid hex>+<base64 key>");
        }

        var name = trimmed[..first];
        var idHex = trimmed[(first + 1)..second];
        var keyText = trimmed[(second + 1)..];
        Names.Validate(name, "key");
        if (!StrictEncoding.TryDecodeBase64(keyText, out var encoded) || encoded.Length != 1 + PublicKeyLength)
        {
            throw new FormatException($"the key of '{name}' is not base64 of 33 bytes (0x01 then a 32-byte Ed25519 key)");
        }

        if (encoded[0] != KeyId.Ed25519Algorithm)
        {
            throw new FormatException($"the key of '{name}' has algorithm byte 0x{encoded[0]:x2}; only Ed25519 (0x01) is supported");
        }

        var key = FromPublicKey(name, encoded.AsSpan(1));
        if (!string.Equals(KeyId.ToHex(key.Id), idHex, StringComparison.Ordinal))
        {
            throw new FormatException(
                $"the key ID '{idHex}' of '{name}' does not match its name and public key (expected {KeyId.ToHex(key.Id)})");
        }

        return key;
    }

    /// <summary>True when <paramref name="signature"/> is a valid Ed25519 signature of <paramref name="message"/> by this key.</summary>
    public bool Verify(ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature) =>
        signature.Length == SignatureLength && Ed25519.Verify(signature, _point, message);

    /// <summary>The one-line text form.</summary>
    public override string ToString()
    {
        var encoded = new byte[1 + PublicKeyLength];
        encoded[0] = KeyId.Ed25519Algorithm;
        _publicKey.CopyTo(encoded, 1);
        return $"{Name}+{KeyId.ToHex(Id)}+{Convert.ToBase64String(encoded)}";
    }
}
