using System.Buffers.Text;
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

        foreach (var c in text)
        {
            if (!IsBase64Char(c))
            {
                return false;
            }
        }

        var buffer = new byte[Base64.GetMaxDecodedFromUtf8Length(text.Length)];
        if (!Convert.TryFromBase64Chars(text, buffer, out var written))
        {
            return false;
        }

        bytes = buffer.AsSpan(0, written).ToArray();
        // Reject non-zero unused bits: the canonical spelling must round-trip.
        return text.SequenceEqual(Convert.ToBase64String(bytes));
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

    private static bool IsBase64Char(char c) =>
        c is (>= 'A' and <= 'Z') or (>= 'a' and <= 'z') or (>= '0' and <= '9') or '+' or '/' or '=';
}
