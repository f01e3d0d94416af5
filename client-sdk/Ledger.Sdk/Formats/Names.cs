namespace Ledger.Sdk;

/// <summary>Names of members and issuers (SPEC §1): 1–63 characters of <c>[a-z0-9._-]</c>, starting with a letter or digit.</summary>
public static class Names
{
    /// <summary>The longest name allowed, in characters (also its length in bytes: names are ASCII).</summary>
    public const int LengthMax = 63;

    /// <summary>True when <paramref name="name"/> is a valid member or issuer name.</summary>
    public static bool IsValid(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > LengthMax || !IsLetterOrDigit(name[0]))
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!IsLetterOrDigit(c) && c != '.' && c != '_' && c != '-')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Throws <see cref="FormatException"/> with a precise message when the name is invalid.</summary>
    public static void Validate(string? name, string what)
    {
        if (!IsValid(name))
        {
            throw new FormatException(
                $"{what} name '{name}' is invalid: use 1-{LengthMax} characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit");
        }
    }

    private static bool IsLetterOrDigit(char c) => c is (>= 'a' and <= 'z') or (>= '0' and <= '9');
}
