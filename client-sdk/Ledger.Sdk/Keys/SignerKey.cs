using System.Security.Cryptography;
using System.Text;
using Org.BouncyCastle.Math.EC.Rfc8032;

namespace Ledger.Sdk;

/// <summary>
/// An Ed25519 private key with its name, in the signed-note signer key format (SPEC §1):
/// <c>PRIVATE+KEY+&lt;name&gt;+&lt;keyid hex&gt;+&lt;base64(0x01 || seed)&gt;</c>. Never log it.
/// </summary>
public sealed class SignerKey
{
    private const string Prefix = "PRIVATE+KEY+";
    private const int SeedLength = 32;
    private readonly byte[] _seed;
    private readonly byte[] _publicKey;

    private SignerKey(string name, byte[] seed)
    {
        _seed = seed;
        _publicKey = new byte[VerifierKey.PublicKeyLength];
        Ed25519.GeneratePublicKey(seed, 0, _publicKey, 0);
        Verifier = VerifierKey.FromPublicKeyAnyName(name, _publicKey);
    }

    /// <summary>The name the key signs as.</summary>
    public string Name => Verifier.Name;

    /// <summary>The key ID (SPEC §1).</summary>
    public uint Id => Verifier.Id;

    /// <summary>The public half.</summary>
    public VerifierKey Verifier { get; }

    /// <summary>A fresh key from the operating system's random number generator.</summary>
    public static SignerKey Generate(string name)
    {
        Names.Validate(name, "key");
        return new SignerKey(name, RandomNumberGenerator.GetBytes(SeedLength));
    }

    /// <summary>A key from a known 32-byte seed (tests and deterministic tooling).</summary>
    public static SignerKey FromSeed(string name, ReadOnlySpan<byte> seed)
    {
        Names.Validate(name, "key");
        if (seed.Length != SeedLength)
        {
            throw new FormatException($"an Ed25519 seed has {SeedLength} bytes, not {seed.Length}");
        }

        return new SignerKey(name, seed.ToArray());
    }

    /// <summary>A key from a seed under any signed-note name (used to check published signed-note vectors).</summary>
    internal static SignerKey FromSeedAnyName(string name, ReadOnlySpan<byte> seed) => new(name, seed.ToArray());

    /// <summary>Parses the one-line signer key text; throws <see cref="FormatException"/> saying what is wrong.</summary>
    public static SignerKey Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var trimmed = text.Trim();
        if (!trimmed.StartsWith(Prefix, StringComparison.Ordinal))
        {
            throw new FormatException("a signer key starts with 'PRIVATE+KEY+'");
        }

        var rest = trimmed[Prefix.Length..];
        var first = rest.IndexOf('+', StringComparison.Ordinal);
        var second = first < 0 ? -1 : rest.IndexOf('+', first + 1);
        if (first < 0 || second < 0)
        {
            throw new FormatException("a signer key has the form PRIVATE+KEY+<name>+<keyid hex>+<base64 seed>");
        }

        var name = rest[..first];
        Names.Validate(name, "key");
        if (!StrictEncoding.TryDecodeBase64(rest.AsSpan(second + 1), out var encoded)
            || encoded.Length != 1 + SeedLength || encoded[0] != KeyId.Ed25519Algorithm)
        {
            throw new FormatException($"the private key of '{name}' is not base64 of 0x01 and a 32-byte Ed25519 seed");
        }

        var key = new SignerKey(name, encoded[1..]);
        if (!string.Equals(KeyId.ToHex(key.Id), rest[(first + 1)..second], StringComparison.Ordinal))
        {
            throw new FormatException($"the key ID of the private key of '{name}' does not match its name and key");
        }

        return key;
    }

    /// <summary>Reads a signer key file.</summary>
    public static SignerKey Load(string path) => Parse(File.ReadAllText(path, Encoding.UTF8));

    /// <summary>Writes the key to a new file readable by its owner only (mode 0600 on Unix); refuses to overwrite.</summary>
    public void Save(string path)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var stream = new FileStream(path, options);
        var bytes = Encoding.UTF8.GetBytes(ToPrivateText() + "\n");
        stream.Write(bytes);
        stream.Flush(flushToDisk: true);
    }

    /// <summary>Signs a message; the signature has 64 bytes.</summary>
    public byte[] Sign(ReadOnlySpan<byte> message)
    {
        var signature = new byte[VerifierKey.SignatureLength];
        // With the public key given, signing does not derive it again (half of the work otherwise).
        // The span type matters: a byte[] in second place would be taken as an Ed25519ctx context.
        Ed25519.Sign(_seed, (ReadOnlySpan<byte>)_publicKey, message, signature);
        return signature;
    }

    /// <summary>The private one-line text form. Only for writing key files.</summary>
    public string ToPrivateText()
    {
        var encoded = new byte[1 + SeedLength];
        encoded[0] = KeyId.Ed25519Algorithm;
        _seed.CopyTo(encoded, 1);
        return $"{Prefix}{Name}+{KeyId.ToHex(Id)}+{Convert.ToBase64String(encoded)}";
    }

    /// <summary>Never the private key: the verifier key text, so that a stray log line leaks nothing.</summary>
    public override string ToString() => Verifier.ToString();
}
