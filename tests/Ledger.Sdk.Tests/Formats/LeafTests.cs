using Ledger.Sdk;

namespace Ledger.Sdk.Tests.Formats;

public sealed class LeafTests
{
    private static readonly byte[] Digest = [.. Enumerable.Range(0, 32).Select(i => (byte)i)];

    [Fact]
    public void Encoding_is_the_spec_layout()
    {
        var bytes = new Leaf(LeafKind.Anchor, 0x0102030405060708, "ab", Digest).Encode();
        Assert.Equal(43 + 2, bytes.Length);
        Assert.Equal("0101" + "0102030405060708" + "02" + "6162" + Convert.ToHexStringLower(Digest), Convert.ToHexStringLower(bytes));
    }

    [Fact]
    public void Encoding_into_a_buffer_writes_the_same_bytes_and_nothing_past_them()
    {
        foreach (var issuer in new[] { "a", "app-paris", new string('z', Names.LengthMax) })
        {
            var expected = new Leaf(LeafKind.Anchor, 1_790_000_000_123, issuer, Digest).Encode();
            var buffer = Enumerable.Repeat((byte)0xEE, Leaf.LengthMax + 4).ToArray();
            var length = Leaf.EncodeValidated(LeafKind.Anchor, 1_790_000_000_123, issuer, Digest, buffer);
            Assert.Equal(expected.Length, length);
            Assert.Equal(expected, buffer[..length]);
            Assert.All(buffer[length..], b => Assert.Equal(0xEE, b));
        }
    }

    [Fact]
    public void Decode_inverts_encode()
    {
        var leaf = new Leaf(LeafKind.Revocation, 1_790_000_000_123, "app-paris", Digest);
        Assert.True(Leaf.TryDecode(leaf.Encode(), out var decoded, out var error), error);
        Assert.Equal(leaf.Kind, decoded!.Kind);
        Assert.Equal(leaf.TimestampMs, decoded.TimestampMs);
        Assert.Equal(leaf.Issuer, decoded.Issuer);
        Assert.Equal(leaf.Digest, decoded.Digest);
        Assert.Equal(new DateTimeOffset(2026, 9, 21, 14, 13, 20, 123, TimeSpan.Zero), decoded.Timestamp);
    }

    [Theory]
    [InlineData(0, 0x02, "version is 0x02")]
    [InlineData(1, 0x03, "kind is 0x03")]
    [InlineData(1, 0x00, "kind is 0x00")]
    [InlineData(10, 0x05, "must have 48")]
    [InlineData(10, 0x00, "must have 43")]
    [InlineData(11, (byte)'A', "issuer name is not a valid name")]
    public void Bad_fields_are_rejected(int offset, byte value, string reason)
    {
        var bytes = new Leaf(LeafKind.Anchor, 1, "ab", Digest).Encode();
        bytes[offset] = value;
        Assert.False(Leaf.TryDecode(bytes, out _, out var error));
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Trailing_or_missing_bytes_are_rejected()
    {
        var bytes = new Leaf(LeafKind.Anchor, 1, "ab", Digest).Encode();
        Assert.False(Leaf.TryDecode([.. bytes, 0], out _, out var longer));
        Assert.Contains("46 bytes", longer, StringComparison.Ordinal);
        Assert.False(Leaf.TryDecode(bytes.AsSpan(0, bytes.Length - 1), out _, out var shorter));
        Assert.Contains("44 bytes", shorter, StringComparison.Ordinal);
        Assert.False(Leaf.TryDecode([], out _, out var empty));
        Assert.Contains("0 bytes", empty, StringComparison.Ordinal);
    }

    [Fact]
    public void Encode_refuses_invalid_leaves()
    {
        Assert.Throws<FormatException>(() => new Leaf(LeafKind.Anchor, 1, "Bad", Digest).Encode());
        Assert.Throws<FormatException>(() => new Leaf(LeafKind.Anchor, 1, "ok", new byte[31]).Encode());
        Assert.Throws<FormatException>(() => new Leaf((LeafKind)9, 1, "ok", Digest).Encode());
    }
}
