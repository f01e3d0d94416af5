using System.Globalization;
using System.Text;

namespace Ledger.Sdk;

/// <summary>
/// A receipt (SPEC §6, C2SP tlog-proof@v1): the leaf bytes, its index, the inclusion proof and the
/// signed checkpoint it leads to. <see cref="ReceiptVerifier"/> decides whether it is valid.
/// </summary>
public sealed record Receipt(byte[] LeafBytes, ulong Index, IReadOnlyList<byte[]> Proof, string CheckpointNote)
{
    /// <summary>The first line of every receipt.</summary>
    public const string Header = "c2sp.org/tlog-proof@v1";

    /// <summary>The file extension of receipts.</summary>
    public const string FileExtension = ".tlog-proof";

    /// <summary>The largest receipt accepted, in bytes.</summary>
    public const int LengthMax = SignedNote.LengthMax + 8 * 1024;

    /// <summary>The most inclusion-proof hashes a receipt may carry (a tree of 2^64 leaves needs 64).</summary>
    public const int ProofHashesMax = 64;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The receipt's text.</summary>
    public string ToText()
    {
        var builder = new StringBuilder();
        builder.Append(Header).Append('\n');
        builder.Append("extra ").Append(Convert.ToBase64String(LeafBytes)).Append('\n');
        builder.Append("index ").Append(Index.ToString(CultureInfo.InvariantCulture)).Append('\n');
        foreach (var hash in Proof)
        {
            builder.Append(Convert.ToBase64String(hash)).Append('\n');
        }

        builder.Append('\n').Append(CheckpointNote);
        return builder.ToString();
    }

    /// <summary>Decodes a receipt file's bytes: strict UTF-8, then <see cref="TryParse(string, out Receipt?, out string)"/>.</summary>
    public static bool TryParse(ReadOnlySpan<byte> bytes, out Receipt? receipt, out string error)
    {
        receipt = null;
        if (bytes.Length > LengthMax)
        {
            error = $"receipt is {bytes.Length} bytes; at most {LengthMax} are accepted";
            return false;
        }

        string text;
        try
        {
            text = StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            error = "receipt is not valid UTF-8 text";
            return false;
        }

        return TryParse(text, out receipt, out error);
    }

    /// <summary>Parses receipt text, checking its structure; errors name the line at fault.</summary>
    public static bool TryParse(string text, out Receipt? receipt, out string error)
    {
        receipt = null;
        if (text.Length == 0)
        {
            error = "receipt is empty";
            return false;
        }

        var reader = new LineReader(text);
        if (!reader.TryNext(out var header) || !header.SequenceEqual(Header))
        {
            error = $"line 1: expected the header '{Header}'";
            return false;
        }

        if (!TryParseExtra(ref reader, out var leafBytes, out error) || !TryParseIndex(ref reader, out var index, out error))
        {
            return false;
        }

        if (!TryParseProof(ref reader, out var proof, out error))
        {
            return false;
        }

        receipt = new Receipt(leafBytes, index, proof, reader.Rest);
        return true;
    }

    private static bool TryParseExtra(ref LineReader reader, out byte[] leafBytes, out string error)
    {
        leafBytes = [];
        const string prefix = "extra ";
        if (!reader.TryNext(out var line) || !line.StartsWith(prefix, StringComparison.Ordinal))
        {
            error = "line 2: expected 'extra <base64 leaf bytes>'";
            return false;
        }

        if (!StrictEncoding.TryDecodeBase64(line[prefix.Length..], out leafBytes) || leafBytes.Length == 0)
        {
            error = "line 2: the leaf bytes after 'extra ' are not canonical base64";
            return false;
        }

        error = string.Empty;
        return true;
    }

    private static bool TryParseIndex(ref LineReader reader, out ulong index, out string error)
    {
        index = 0;
        const string prefix = "index ";
        if (!reader.TryNext(out var line) || !line.StartsWith(prefix, StringComparison.Ordinal))
        {
            error = "line 3: expected 'index <leaf index>'";
            return false;
        }

        if (!StrictEncoding.TryParseDecimal(line[prefix.Length..], out index))
        {
            error = "line 3: the leaf index is not a decimal number without leading zeros";
            return false;
        }

        error = string.Empty;
        return true;
    }

    private static bool TryParseProof(ref LineReader reader, out List<byte[]> proof, out string error)
    {
        proof = [];
        while (true)
        {
            if (!reader.TryNext(out var line))
            {
                error = $"line {reader.LineNumber}: the receipt ends before the empty line that precedes its checkpoint";
                return false;
            }

            if (line.Length == 0)
            {
                error = string.Empty;
                return true;
            }

            if (proof.Count == ProofHashesMax)
            {
                error = $"line {reader.LineNumber}: more than {ProofHashesMax} inclusion-proof hashes";
                return false;
            }

            if (!StrictEncoding.TryDecodeBase64(line, out var hash) || hash.Length != Checkpoint.RootLength)
            {
                error = $"line {reader.LineNumber}: inclusion-proof hash {proof.Count + 1} is not base64 of 32 bytes";
                return false;
            }

            proof.Add(hash);
        }
    }

    /// <summary>Reads '\n'-terminated lines, counting them.</summary>
    internal struct LineReader(string text)
    {
        private int _position;

        /// <summary>The number of the last line read (1-based).</summary>
        public int LineNumber { get; private set; }

        /// <summary>Everything after the last line read.</summary>
        public readonly string Rest => text[_position..];

        public bool TryNext(out ReadOnlySpan<char> line)
        {
            var end = text.IndexOf('\n', _position);
            LineNumber++;
            if (end < 0)
            {
                line = default;
                return false;
            }

            line = text.AsSpan(_position, end - _position);
            _position = end + 1;
            return true;
        }
    }
}
