using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Ledger.Sdk;

/// <summary>Signed-note key IDs (SPEC §1): the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key).</summary>
public static class KeyId
{
    /// <summary>The signature algorithm byte of Ed25519 in signed notes.</summary>
    public const byte Ed25519Algorithm = 0x01;

    /// <summary>Computes the key ID of an Ed25519 public key under a name, as a big-endian 32-bit value.</summary>
    public static uint Compute(string name, ReadOnlySpan<byte> publicKey)
    {
        var nameBytes = Encoding.ASCII.GetBytes(name);
        Span<byte> input = stackalloc byte[nameBytes.Length + 2 + publicKey.Length];
        nameBytes.CopyTo(input);
        input[nameBytes.Length] = 0x0A;
        input[nameBytes.Length + 1] = Ed25519Algorithm;
        publicKey.CopyTo(input[(nameBytes.Length + 2)..]);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(input, hash);
        return BinaryPrimitives.ReadUInt32BigEndian(hash);
    }

    /// <summary>Eight lowercase hex digits.</summary>
    public static string ToHex(uint keyId) => keyId.ToString("x8", System.Globalization.CultureInfo.InvariantCulture);
}
