using System.Buffers.Binary;
using System.Text;

namespace Ledger.Sdk;

/// <summary>One signature line of a signed note: <c>— &lt;name&gt; &lt;base64(keyid || signature)&gt;</c>.</summary>
/// <param name="Name">The signer's name as written on the line.</param>
/// <param name="KeyId">The key ID from the first 4 bytes.</param>
/// <param name="Signature">The signature bytes after the key ID.</param>
/// <param name="Line">The line's number in the text it was parsed from (1-based).</param>
public sealed record NoteSignature(string Name, uint KeyId, byte[] Signature, int Line)
{
    /// <summary>The line as written in a note, without its newline.</summary>
    public string ToLine()
    {
        var bytes = new byte[4 + Signature.Length];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, KeyId);
        Signature.CopyTo(bytes, 4);
        return $"{SignedNote.SignatureLinePrefix}{Name} {Convert.ToBase64String(bytes)}";
    }
}

/// <summary>
/// A C2SP signed note: a text body ending in a newline, an empty line, then one or more signature lines.
/// Parsing checks the structure only; <see cref="CheckpointVerifier"/> decides whose signatures count.
/// </summary>
public sealed record SignedNote(string Body, IReadOnlyList<NoteSignature> Signatures)
{
    /// <summary>An em dash (U+2014) and a space.</summary>
    public const string SignatureLinePrefix = "\u2014 ";

    /// <summary>The most signature lines a note may carry.</summary>
    public const int SignaturesMax = 100;

    /// <summary>The largest note accepted, in characters.</summary>
    public const int LengthMax = 64 * 1024;

    /// <summary>Signs <paramref name="body"/> with each key and returns the note.</summary>
    public static SignedNote Sign(string body, IEnumerable<SignerKey> keys)
    {
        var bodyBytes = Encoding.UTF8.GetBytes(body);
        var signatures = keys.Select(k => new NoteSignature(k.Name, k.Id, k.Sign(bodyBytes), 0)).ToList();
        return new SignedNote(body, signatures);
    }

    /// <summary>This note with one more signature, unless that signer's key already signed it.</summary>
    public SignedNote WithSignature(NoteSignature signature) =>
        Signatures.Any(s => s.Name == signature.Name && s.KeyId == signature.KeyId)
            ? this
            : this with { Signatures = [.. Signatures, signature] };

    /// <summary>The note's text: body, empty line, signature lines.</summary>
    public string ToText()
    {
        var builder = new StringBuilder(Body).Append('\n');
        foreach (var signature in Signatures)
        {
            builder.Append(signature.ToLine()).Append('\n');
        }

        return builder.ToString();
    }

    /// <summary>
    /// Parses a note's text. <paramref name="firstLine"/> is the line number of the note's first
    /// line in the enclosing file, so that errors name the right line.
    /// </summary>
    public static bool TryParse(string text, int firstLine, out SignedNote? note, out string error)
    {
        note = null;
        if (text.Length > LengthMax)
        {
            error = $"signed note is longer than {LengthMax} characters";
            return false;
        }

        if (!text.EndsWith('\n'))
        {
            error = "signed note does not end with a newline";
            return false;
        }

        var split = text.LastIndexOf("\n\n", StringComparison.Ordinal);
        if (split < 0)
        {
            error = $"signed note starting on line {firstLine} has no empty line between its text and its signatures";
            return false;
        }

        if (split + 2 >= text.Length)
        {
            error = $"signed note starting on line {firstLine} has no signature lines";
            return false;
        }

        var body = text[..(split + 1)];
        var signatureLines = text[(split + 2)..^1].Split('\n');
        var lineNumber = firstLine + CountLines(body) + 1;
        if (signatureLines.Length > SignaturesMax)
        {
            error = $"signed note has {signatureLines.Length} signature lines; at most {SignaturesMax} are accepted";
            return false;
        }

        var signatures = new List<NoteSignature>(signatureLines.Length);
        foreach (var line in signatureLines)
        {
            if (!TryParseSignatureLine(line, lineNumber, out var signature, out error))
            {
                return false;
            }

            signatures.Add(signature!);
            lineNumber++;
        }

        note = new SignedNote(body, signatures);
        error = string.Empty;
        return true;
    }

    private static bool TryParseSignatureLine(string line, int lineNumber, out NoteSignature? signature, out string error)
    {
        signature = null;
        if (!line.StartsWith(SignatureLinePrefix, StringComparison.Ordinal))
        {
            error = $"line {lineNumber}: a signature line starts with an em dash (U+2014) and a space";
            return false;
        }

        var rest = line[SignatureLinePrefix.Length..];
        var space = rest.IndexOf(' ', StringComparison.Ordinal);
        if (space <= 0 || rest.IndexOf(' ', space + 1) >= 0)
        {
            error = $"line {lineNumber}: a signature line has the form '— <name> <base64 signature>'";
            return false;
        }

        var name = rest[..space];
        if (!StrictEncoding.TryDecodeBase64(rest.AsSpan(space + 1), out var bytes) || bytes.Length < 5)
        {
            error = $"line {lineNumber}: the signature of '{name}' is not base64 of a key ID and a signature";
            return false;
        }

        signature = new NoteSignature(name, BinaryPrimitives.ReadUInt32BigEndian(bytes), bytes[4..], lineNumber);
        error = string.Empty;
        return true;
    }

    private static int CountLines(string text)
    {
        var count = 0;
        foreach (var c in text)
        {
            if (c == '\n')
            {
                count++;
            }
        }

        return count;
    }
}
