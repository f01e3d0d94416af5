using CsCheck;
using Ledger.Sdk;

namespace Ledger.Sdk.Tests.Formats;

public sealed class StrictEncodingTests
{
    [Fact]
    public void Canonical_base64_of_any_bytes_decodes_to_those_bytes() =>
        Gen.Byte.Array[0, 100].Sample(bytes =>
            StrictEncoding.TryDecodeBase64(Convert.ToBase64String(bytes), out var decoded) && decoded.SequenceEqual(bytes));

    [Fact]
    public void Setting_an_unused_bit_is_rejected() =>
        Gen.Byte.Array[1, 100].Where(b => b.Length % 3 != 0).Sample(bytes =>
        {
            var text = Convert.ToBase64String(bytes).ToCharArray();
            var lastData = Array.FindLastIndex(text, c => c != '=');
            const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            text[lastData] = alphabet[alphabet.IndexOf(text[lastData], StringComparison.Ordinal) | 1];
            return !StrictEncoding.TryDecodeBase64(new string(text), out _);
        });

    [Theory]
    [InlineData("AAAA AAA=")]
    [InlineData("AAA")]
    [InlineData("A===")]
    [InlineData("====")]
    [InlineData("AA=A")]
    [InlineData("AA\nA")]
    [InlineData("AA-_")]
    public void Malformed_base64_is_rejected(string text) => Assert.False(StrictEncoding.TryDecodeBase64(text, out _));

    [Theory]
    [InlineData("0", true, 0UL)]
    [InlineData("18446744073709551615", true, ulong.MaxValue)]
    [InlineData("18446744073709551616", false, 0UL)]
    [InlineData("007", false, 0UL)]
    [InlineData("+7", false, 0UL)]
    [InlineData(" 7", false, 0UL)]
    [InlineData("", false, 0UL)]
    [InlineData("٣", false, 0UL)]
    public void Decimals_have_one_spelling(string text, bool valid, ulong value)
    {
        Assert.Equal(valid, StrictEncoding.TryParseDecimal(text, out var parsed));
        Assert.Equal(value, parsed);
    }
}
