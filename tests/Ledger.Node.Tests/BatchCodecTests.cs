using CsCheck;
using Ledger.Node.Sequencing;

namespace Ledger.Node.Tests;

public sealed class BatchCodecTests
{
    private static readonly Gen<AnchorEntry> EntryGen =
        from issuer in Gen.String[Gen.Char["abcdefghijklmnopqrstuvwxyz0123456789"], 1, 63]
        from issuedAtMs in Gen.ULong
        from nonce in Gen.Byte.Array[16, 32]
        from digests in Gen.Byte.Array[32].Array[0, 20]
        from signature in Gen.Byte.Array[64].Null()
        select new AnchorEntry(issuer, issuedAtMs, nonce, digests, signature);

    private static readonly Gen<Batch> BatchGen =
        from timestampMs in Gen.ULong
        from entries in EntryGen.Array[0, 8]
        select new Batch(timestampMs, entries);

    [Fact]
    public void Encode_then_decode_gives_the_same_batch()
    {
        BatchGen.Sample(batch =>
        {
            var decoded = BatchCodec.Decode(BatchCodec.Encode(batch));
            Assert.Equal(batch.TimestampMs, decoded.TimestampMs);
            Assert.Equal(batch.Entries.Count, decoded.Entries.Count);
            for (var i = 0; i < batch.Entries.Count; i++)
            {
                Assert.Equal(batch.Entries[i].Issuer, decoded.Entries[i].Issuer);
                Assert.Equal(batch.Entries[i].IssuedAtMs, decoded.Entries[i].IssuedAtMs);
                Assert.Equal(batch.Entries[i].Nonce, decoded.Entries[i].Nonce);
                Assert.Equal(batch.Entries[i].Digests, decoded.Entries[i].Digests);
                Assert.Equal(batch.Entries[i].Signature, decoded.Entries[i].Signature);
            }
        }, iter: 200);
    }

    [Fact]
    public void A_batch_of_version_1_decodes_with_its_entries_unsigned()
    {
        // Version 1, written before entries carried a signature: timestamp 5, one entry of issuer
        // "ab" issued at 7 with a 16-byte nonce and two digests.
        byte[] bytes =
        [
            1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 1,
            2, (byte)'a', (byte)'b', 0, 0, 0, 0, 0, 0, 0, 7, 16, .. new byte[16],
            0, 0, 0, 2, .. Enumerable.Repeat((byte)0xaa, 32), .. Enumerable.Repeat((byte)0xbb, 32),
        ];
        var batch = BatchCodec.Decode(bytes);
        var entry = Assert.Single(batch.Entries);
        Assert.Equal(5UL, batch.TimestampMs);
        Assert.Equal(("ab", 7UL, 16), (entry.Issuer, entry.IssuedAtMs, entry.Nonce.Length));
        Assert.Equal([0xaa, 0xbb], entry.Digests.Select(d => d[31]));
        Assert.Null(entry.Signature);

        // Encoding always writes the current version.
        Assert.Equal(BatchCodec.Version, BatchCodec.Encode(batch)[0]);
    }

    [Fact]
    public void A_signature_of_any_length_but_0_or_64_is_refused()
    {
        var bytes = BatchCodec.Encode(new Batch(5, [new AnchorEntry("ab", 7, new byte[16], [new byte[32]], new byte[64])]));
        var signatureLengthAt = 13 + 1 + 2 + 8 + 1 + 16;
        Assert.Equal(64, bytes[signatureLengthAt]);
        foreach (var length in new byte[] { 1, 32, 63, 65, 255 })
        {
            var changed = (byte[])bytes.Clone();
            changed[signatureLengthAt] = length;
            Assert.Throws<FormatException>(() => BatchCodec.Decode(changed));
        }
    }

    [Fact]
    public void Every_truncation_and_any_trailing_byte_is_refused()
    {
        var bytes = BatchCodec.Encode(new Batch(5, [new AnchorEntry("issuer-a", 7, new byte[16], [new byte[32], new byte[32]])]));
        for (var length = 0; length < bytes.Length; length++)
        {
            Assert.Throws<FormatException>(() => BatchCodec.Decode(bytes.AsSpan(0, length)));
        }

        Assert.Throws<FormatException>(() => BatchCodec.Decode([.. bytes, 0]));
    }

    [Fact]
    public void Another_version_or_a_bad_issuer_name_is_refused()
    {
        var bytes = BatchCodec.Encode(new Batch(5, [new AnchorEntry("issuer-a", 7, new byte[16], [new byte[32]])]));
        var otherVersion = (byte[])bytes.Clone();
        otherVersion[0] = 3;
        Assert.Throws<FormatException>(() => BatchCodec.Decode(otherVersion));
        otherVersion[0] = 0;
        Assert.Throws<FormatException>(() => BatchCodec.Decode(otherVersion));
        var badName = (byte[])bytes.Clone();
        badName[14] = (byte)'A';
        Assert.Throws<FormatException>(() => BatchCodec.Decode(badName));
    }
}
