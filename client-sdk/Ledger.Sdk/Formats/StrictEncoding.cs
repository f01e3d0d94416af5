using System.Globalization;

namespace Ledger.Sdk;

/// <summary>
/// Canonical decoders for the text formats: standard padded base64 with no white space and zero
/// unused bits, and unsigned decimal with no sign and no leading zeros. A value with two spellings
/// would let a receipt be changed without changing what it proves; these reject all but one.
/// </summary>
internal static class StrictEncoding
{
    public static bool TryDecodeBase64(ReadOnlySpan<char> text, out byte[] bytes)
    {
        bytes = [];
        if (text.Length == 0 || text.Length % 4 != 0)
        {
            return text.Length == 0;
        }

        var padding = text[^1] == '=' ? (text[^2] == '=' ? 2 : 1) : 0;
        var data = text[..^padding];
        foreach (var c in data)
        {
            if (Sextet(c) < 0)
            {
                return false;
            }
        }

        // Canonical form: the bits the padding leaves unused in the last data character are zero.
        var unusedBitsMask = padding switch { 1 => 0b11, 2 => 0b1111, _ => 0 };
        if ((Sextet(data[^1]) & unusedBitsMask) != 0)
        {
            return false;
        }

        bytes = new byte[(text.Length / 4 * 3) - padding];
        return Convert.TryFromBase64Chars(text, bytes, out var written) && written == bytes.Length;
    }

    public static bool TryParseDecimal(ReadOnlySpan<char> text, out ulong value)
    {
        value = 0;
        if (text.Length == 0 || text.Length > 20 || (text.Length > 1 && text[0] == '0'))
        {
            return false;
        }

        foreach (var c in text)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }
        }

        return ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }

    private static int Sextet(char c) => c switch
    {
        >= 'A' and <= 'Z' => c - 'A',
        >= 'a' and <= 'z' => c - 'a' + 26,
        >= '0' and <= '9' => c - '0' + 52,
        '+' => 62,
        '/' => 63,
        _ => -1,
    };
}
