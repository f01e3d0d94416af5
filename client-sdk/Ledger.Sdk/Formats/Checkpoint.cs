using System.Globalization;
using System.Text;

namespace Ledger.Sdk;

/// <summary>
/// The body of a checkpoint (SPEC §5, C2SP tlog-checkpoint): origin, tree size and root hash, one per line.
/// </summary>
public sealed record Checkpoint(string Origin, ulong Size, byte[] Root)
{
    /// <summary>Length of a root hash in bytes.</summary>
    public const int RootLength = 32;

    /// <summary>The longest origin accepted, in bytes.</summary>
    public const int OriginLengthMax = 255;

    /// <summary>The exact body text that members sign.</summary>
    public string Body()
    {
        if (!IsValidOrigin(Origin))
        {
            throw new FormatException($"origin '{Origin}' is invalid: it must be 1-{OriginLengthMax} printable characters with no space and no '+'");
        }

        Invariant.Check(Root.Length == RootLength);
        return string.Create(CultureInfo.InvariantCulture, $"{Origin}\n{Size}\n{Convert.ToBase64String(Root)}\n");
    }

    /// <summary>The body bytes (UTF-8).</summary>
    public byte[] BodyBytes() => Encoding.UTF8.GetBytes(Body());

    /// <summary>True when the text can be an origin: printable, no space, no '+', not empty.</summary>
    public static bool IsValidOrigin(string? origin)
    {
        if (string.IsNullOrEmpty(origin) || Encoding.UTF8.GetByteCount(origin) > OriginLengthMax)
        {
            return false;
        }

        foreach (var c in origin)
        {
            if (char.IsWhiteSpace(c) || char.IsControl(c) || c == '+' || c == '\u2014')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Parses a checkpoint body (the text before the signatures); line numbers in errors start at <paramref name="firstLine"/>.</summary>
    public static bool TryParseBody(string body, int firstLine, out Checkpoint? checkpoint, out string error)
    {
        checkpoint = null;
        if (!body.EndsWith('\n'))
        {
            error = "checkpoint body does not end with a newline";
            return false;
        }

        var lines = body[..^1].Split('\n');
        if (lines.Length != 3)
        {
            error = $"checkpoint body has {lines.Length} lines (line {firstLine} on); a v1 checkpoint has exactly 3: origin, size, root";
            return false;
        }

        if (!IsValidOrigin(lines[0]))
        {
            error = $"line {firstLine}: checkpoint origin '{lines[0]}' is not a valid origin";
            return false;
        }

        if (!StrictEncoding.TryParseDecimal(lines[1], out var size))
        {
            error = $"line {firstLine + 1}: checkpoint tree size '{lines[1]}' is not a decimal number without leading zeros";
            return false;
        }

        if (!StrictEncoding.TryDecodeBase64(lines[2], out var root) || root.Length != RootLength)
        {
            error = $"line {firstLine + 2}: checkpoint root hash is not base64 of {RootLength} bytes";
            return false;
        }

        checkpoint = new Checkpoint(lines[0], size, root);
        error = string.Empty;
        return true;
    }
}
