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
        select new AnchorEntry(issuer, issuedAtMs, nonce, digests);

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
            }
        }, iter: 200);
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
        otherVersion[0] = 2;
        Assert.Throws<FormatException>(() => BatchCodec.Decode(otherVersion));
        var badName = (byte[])bytes.Clone();
        badName[14] = (byte)'A';
        Assert.Throws<FormatException>(() => BatchCodec.Decode(badName));
    }
}
