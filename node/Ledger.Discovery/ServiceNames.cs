using System.Security.Cryptography;
using System.Text;

namespace Ledger.Discovery;

/// <summary>DNS-safe names for the records a member announces.</summary>
public static class ServiceNames
{
    private const int MemberPartLengthMax = 40;

    /// <summary>
    /// The mDNS instance label for a member of a ledger: the member name reduced to lower-case
    /// letters, digits and hyphens (at most 40), a hyphen, and 8 hex digits of SHA-256 over origin
    /// and member name, so that members whose names reduce alike, or that share a name across
    /// ledgers, still get distinct labels. Always a valid DNS label (at most 63 bytes).
    /// </summary>
    public static string InstanceName(string origin, string memberName)
    {
        ArgumentNullException.ThrowIfNull(origin);
        ArgumentNullException.ThrowIfNull(memberName);
        var reduced = new StringBuilder(MemberPartLengthMax);
        foreach (var c in memberName)
        {
            if (reduced.Length == MemberPartLengthMax)
            {
                break;
            }

            var lower = char.ToLowerInvariant(c);
            var keep = lower is (>= 'a' and <= 'z') or (>= '0' and <= '9');
            if (keep || (reduced.Length > 0 && reduced[^1] != '-'))
            {
                reduced.Append(keep ? lower : '-');
            }
        }

        var memberPart = reduced.ToString().Trim('-');
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(origin + "\n" + memberName));
        var suffix = Convert.ToHexStringLower(hash.AsSpan(0, 4));
        return memberPart.Length == 0 ? "member-" + suffix : memberPart + "-" + suffix;
    }
}
