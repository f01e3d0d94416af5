using System.Buffers.Binary;
using System.Text;
using Ledger.Sdk;
using Ledger.Sdk.Client;

namespace Ledger.Node.Sequencing;

/// <summary>
/// Binary encoding of a <see cref="Batch"/> in the log, version 2, big-endian:
/// <c>u8 version, u64 timestampMs, u32 entryCount</c>, then per entry
/// <c>u8 issuerLength, issuer, u64 issuedAtMs, u8 nonceLength, nonce, u8 signatureLength (0 or 64), signature, u32 digestCount, digests (32 bytes each)</c>.
/// Version 1 (no signature field) is still decoded, its entries without a signature. Decoding is
/// strict: any other version, a length out of range or trailing bytes fail.
/// </summary>
internal static class BatchCodec
{
    public const byte Version = 2;

    /// <summary>The format before entries carried the issuer's signature.</summary>
    public const byte VersionWithoutSignatures = 1;
    public const int EntriesMax = 100_000;
    public const int DigestsPerEntryMax = 100_000;

    public static byte[] Encode(Batch batch)
    {
        var size = 1 + 8 + 4;
        foreach (var entry in batch.Entries)
        {
            size += 1 + entry.Issuer.Length + 8 + 1 + entry.Nonce.Length + 1 + (entry.Signature?.Length ?? 0) + 4 + (entry.Digests.Count * AnchorMessage.DigestLength);
        }

        var bytes = new byte[size];
        var span = bytes.AsSpan();
        span[0] = Version;
        BinaryPrimitives.WriteUInt64BigEndian(span[1..], batch.TimestampMs);
        BinaryPrimitives.WriteUInt32BigEndian(span[9..], (uint)batch.Entries.Count);
        var offset = 13;
        foreach (var entry in batch.Entries)
        {
            offset = EncodeEntry(entry, span, offset);
        }

        Invariant.Check(offset == size);
        return bytes;
    }

    public static Batch Decode(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < 13 || bytes[0] is not (Version or VersionWithoutSignatures))
        {
            throw new FormatException("batch: bad header or version");
        }

        var signed = bytes[0] == Version;

        var timestampMs = BinaryPrimitives.ReadUInt64BigEndian(bytes[1..]);
        var count = BinaryPrimitives.ReadUInt32BigEndian(bytes[9..]);
        if (count > EntriesMax)
        {
            throw new FormatException("batch: too many entries");
        }

        var entries = new List<AnchorEntry>((int)count);
        var offset = 13;
        for (var i = 0u; i < count; i++)
        {
            entries.Add(DecodeEntry(bytes, signed, ref offset));
        }

        if (offset != bytes.Length)
        {
            throw new FormatException("batch: trailing bytes");
        }

        return new Batch(timestampMs, entries);
    }

    private static int EncodeEntry(AnchorEntry entry, Span<byte> span, int offset)
    {
        Invariant.Check(entry.Issuer.Length is > 0 and <= Names.LengthMax);
        Invariant.Check(entry.Nonce.Length <= byte.MaxValue);
        span[offset++] = (byte)entry.Issuer.Length;
        offset += Encoding.ASCII.GetBytes(entry.Issuer, span[offset..]);
        BinaryPrimitives.WriteUInt64BigEndian(span[offset..], entry.IssuedAtMs);
        offset += 8;
        span[offset++] = (byte)entry.Nonce.Length;
        entry.Nonce.CopyTo(span[offset..]);
        offset += entry.Nonce.Length;
        var signature = entry.Signature ?? [];
        Invariant.Check(signature.Length is 0 or VerifierKey.SignatureLength);
        span[offset++] = (byte)signature.Length;
        signature.CopyTo(span[offset..]);
        offset += signature.Length;
        BinaryPrimitives.WriteUInt32BigEndian(span[offset..], (uint)entry.Digests.Count);
        offset += 4;
        foreach (var digest in entry.Digests)
        {
            Invariant.Check(digest.Length == AnchorMessage.DigestLength);
            digest.CopyTo(span[offset..]);
            offset += AnchorMessage.DigestLength;
        }

        return offset;
    }

    private static AnchorEntry DecodeEntry(ReadOnlySpan<byte> bytes, bool signed, ref int offset)
    {
        var issuerLength = Take(bytes, ref offset, 1)[0];
        var issuer = Encoding.ASCII.GetString(Take(bytes, ref offset, issuerLength));
        if (!Names.IsValid(issuer))
        {
            throw new FormatException("batch: bad issuer name");
        }

        var issuedAtMs = BinaryPrimitives.ReadUInt64BigEndian(Take(bytes, ref offset, 8));
        var nonceLength = Take(bytes, ref offset, 1)[0];
        var nonce = Take(bytes, ref offset, nonceLength).ToArray();
        byte[]? signature = null;
        if (signed)
        {
            var signatureLength = Take(bytes, ref offset, 1)[0];
            if (signatureLength is not (0 or VerifierKey.SignatureLength))
            {
                throw new FormatException($"batch: a signature of {signatureLength} bytes");
            }

            signature = signatureLength == 0 ? null : Take(bytes, ref offset, signatureLength).ToArray();
        }

        var digestCount = BinaryPrimitives.ReadUInt32BigEndian(Take(bytes, ref offset, 4));
        if (digestCount > DigestsPerEntryMax)
        {
            throw new FormatException("batch: too many digests in an entry");
        }

        var digests = new byte[digestCount][];
        for (var i = 0; i < digests.Length; i++)
        {
            digests[i] = Take(bytes, ref offset, AnchorMessage.DigestLength).ToArray();
        }

        return new AnchorEntry(issuer, issuedAtMs, nonce, digests, signature);
    }

    private static ReadOnlySpan<byte> Take(ReadOnlySpan<byte> bytes, ref int offset, int length)
    {
        if (length < 0 || offset + length > bytes.Length)
        {
            throw new FormatException("batch: truncated");
        }

        var slice = bytes.Slice(offset, length);
        offset += length;
        return slice;
    }
}
