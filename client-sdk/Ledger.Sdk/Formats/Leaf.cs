using System.Buffers.Binary;
using System.Text;

namespace Ledger.Sdk;

/// <summary>What a leaf records (SPEC §3).</summary>
public enum LeafKind : byte
{
    /// <summary>A credential digest anchored by its issuer.</summary>
    Anchor = 0x01,

    /// <summary>An issuer's revocation of a credential digest it anchored.</summary>
    Revocation = 0x02,
}

/// <summary>
/// One entry of the log, encoded as SPEC §3 fixes: version 0x01, kind, timestamp (ms since the
/// Unix epoch, big-endian), issuer name length and name, 32-byte credential digest. Exactly 43+L bytes.
/// </summary>
public sealed record Leaf(LeafKind Kind, ulong TimestampMs, string Issuer, byte[] Digest)
{
    /// <summary>The only leaf version this code reads and writes.</summary>
    public const byte Version = 0x01;

    /// <summary>Length of a credential digest (SHA-256) in bytes.</summary>
    public const int DigestLength = 32;

    /// <summary>Bytes of a leaf besides the issuer name.</summary>
    public const int FixedLength = 43;

    /// <summary>The longest encoded leaf.</summary>
    public const int LengthMax = FixedLength + Names.LengthMax;

    /// <summary>The leaf's timestamp as a UTC date and time.</summary>
    public DateTimeOffset Timestamp =>
        TimestampMs > (ulong)DateTimeOffset.MaxValue.ToUnixTimeMilliseconds()
            ? DateTimeOffset.MaxValue
            : DateTimeOffset.FromUnixTimeMilliseconds((long)TimestampMs);

    /// <summary>Encodes the leaf; throws <see cref="FormatException"/> for an invalid issuer name or digest length.</summary>
    public byte[] Encode()
    {
        Names.Validate(Issuer, "issuer");
        if (Digest.Length != DigestLength)
        {
            throw new FormatException($"a credential digest has {DigestLength} bytes, not {Digest.Length}");
        }

        if (Kind is not (LeafKind.Anchor or LeafKind.Revocation))
        {
            throw new FormatException($"leaf kind 0x{(byte)Kind:x2} is not defined");
        }

        var bytes = new byte[FixedLength + Issuer.Length];
        EncodeValidated(Kind, TimestampMs, Issuer, Digest, bytes);
        return bytes;
    }

    /// <summary>
    /// Writes the encoding of a leaf whose issuer name, digest length and kind are known to be valid
    /// (as <see cref="Encode"/> checks) into <paramref name="destination"/>; returns its length.
    /// For the node's apply, which checks each entry once and encodes many leaves of it.
    /// </summary>
    internal static int EncodeValidated(LeafKind kind, ulong timestampMs, string issuer, ReadOnlySpan<byte> digest, Span<byte> destination)
    {
        var length = FixedLength + issuer.Length;
        Invariant.Check(digest.Length == DigestLength && destination.Length >= length);
        destination[0] = Version;
        destination[1] = (byte)kind;
        BinaryPrimitives.WriteUInt64BigEndian(destination[2..], timestampMs);
        destination[10] = (byte)issuer.Length;
        Encoding.ASCII.GetBytes(issuer, destination[11..]);
        digest.CopyTo(destination[(11 + issuer.Length)..]);
        return length;
    }

    /// <summary>Decodes leaf bytes; on failure returns false and a reason a person can act on.</summary>
    public static bool TryDecode(ReadOnlySpan<byte> bytes, out Leaf? leaf, out string error)
    {
        leaf = null;
        if (bytes.Length < FixedLength + 1)
        {
            error = $"leaf has {bytes.Length} bytes; a leaf has at least {FixedLength + 1}";
            return false;
        }

        if (bytes[0] != Version)
        {
            error = $"leaf version is 0x{bytes[0]:x2}; only version 0x01 is defined";
            return false;
        }

        if (bytes[1] is not ((byte)LeafKind.Anchor or (byte)LeafKind.Revocation))
        {
            error = $"leaf kind is 0x{bytes[1]:x2}; only 0x01 (anchor) and 0x02 (revocation) are defined";
            return false;
        }

        int nameLength = bytes[10];
        if (bytes.Length != FixedLength + nameLength)
        {
            error = $"leaf has {bytes.Length} bytes; with an issuer name of {nameLength} bytes it must have {FixedLength + nameLength}";
            return false;
        }

        var issuer = Encoding.ASCII.GetString(bytes.Slice(11, nameLength));
        if (!Names.IsValid(issuer) || !IsAscii(bytes.Slice(11, nameLength)))
        {
            error = "leaf issuer name is not a valid name (1-63 characters of a-z, 0-9, '.', '_', '-')";
            return false;
        }

        var timestamp = BinaryPrimitives.ReadUInt64BigEndian(bytes[2..]);
        leaf = new Leaf((LeafKind)bytes[1], timestamp, issuer, bytes.Slice(11 + nameLength, DigestLength).ToArray());
        error = string.Empty;
        return true;
    }

    /// <summary>The digest as lowercase hex.</summary>
    public string DigestHex => Convert.ToHexStringLower(Digest);

    private static bool IsAscii(ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes)
        {
            if (b > 0x7F)
            {
                return false;
            }
        }

        return true;
    }
}
