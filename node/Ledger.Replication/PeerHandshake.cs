using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Ledger.Sdk;

namespace Ledger.Replication;

/// <summary>
/// Member-to-member authentication with the member keys pinned in the consortium file. A caller
/// sends <see cref="HeaderName"/> = <c>&lt;from&gt; &lt;timestamp ms&gt; &lt;nonce hex&gt; &lt;base64 signature&gt;</c> on
/// every peer call or stream; the callee answers with its own header over the same nonce, so both
/// ends prove they hold a member key. The signed bytes are
/// <c>"ledger peer handshake v1\n" origin "\n" from "\n" to "\n" timestamp "\n" nonce-hex "\n" role "\n"</c>:
/// the first line has spaces, so no checkpoint body (whose first line is an origin) can equal it,
/// and the origin, both names and the role bind a signature to one ledger, one direction and one pair.
/// </summary>
internal static class PeerHandshake
{
    /// <summary>The gRPC metadata key that carries the handshake.</summary>
    public const string HeaderName = "ledger-peer-auth";

    /// <summary>Bytes of a handshake nonce.</summary>
    public const int NonceLength = 16;

    private const string Domain = "ledger peer handshake v1\n";

    /// <summary>Which side of the call signs.</summary>
    public enum Role
    {
        /// <summary>The member that opens the call.</summary>
        Caller,

        /// <summary>The member that answers it.</summary>
        Callee,
    }

    /// <summary>The bytes a member signs.</summary>
    public static byte[] Message(string origin, string from, string to, ulong timestampMs, ReadOnlySpan<byte> nonce, Role role) =>
        Encoding.UTF8.GetBytes(string.Create(
            CultureInfo.InvariantCulture,
            $"{Domain}{origin}\n{from}\n{to}\n{timestampMs}\n{Convert.ToHexStringLower(nonce)}\n{(role == Role.Caller ? "caller" : "callee")}\n"));

    /// <summary>A caller's header for a call to <paramref name="to"/>, with a fresh nonce (returned too, to check the answer).</summary>
    public static (string Header, byte[] Nonce) CallerHeader(SignerKey memberKey, string origin, string to, ulong nowMs)
    {
        var nonce = RandomNumberGenerator.GetBytes(NonceLength);
        return (Header(memberKey, origin, to, nowMs, nonce, Role.Caller), nonce);
    }

    /// <summary>A callee's answering header over the caller's nonce.</summary>
    public static string CalleeHeader(SignerKey memberKey, string origin, string caller, ulong nowMs, ReadOnlySpan<byte> callerNonce) =>
        Header(memberKey, origin, caller, nowMs, callerNonce, Role.Callee);

    private static string Header(SignerKey memberKey, string origin, string to, ulong nowMs, ReadOnlySpan<byte> nonce, Role role)
    {
        var signature = memberKey.Sign(Message(origin, memberKey.Name, to, nowMs, nonce, role));
        return string.Create(CultureInfo.InvariantCulture, $"{memberKey.Name} {nowMs} {Convert.ToHexStringLower(nonce)} {Convert.ToBase64String(signature)}");
    }
}

/// <summary>A verified handshake: who is on the other end, and the nonce its header carried.</summary>
internal sealed record PeerIdentity(string MemberId, byte[] Nonce);

/// <summary>
/// Checks handshakes against the consortium: the signer must be a member (an issuer's key is never
/// a member's), the message must be addressed to this member, its timestamp within
/// <c>clockSkew</c> of this node's clock, its nonce unseen in that window (bounded memory), and its
/// Ed25519 signature valid. Every refusal says why. Thread-safe.
/// </summary>
internal sealed class PeerAuthenticator(Consortium consortium, string selfId, TimeSpan clockSkew, Func<ulong> nowMs)
{
    /// <summary>How many recent caller nonces are remembered to refuse replays.</summary>
    public const int RememberedNoncesMax = 100_000;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, ulong> _seenNonces = new(StringComparer.Ordinal);

    /// <summary>Verifies a caller's header (replays refused).</summary>
    public bool TryVerifyCaller(string? header, out PeerIdentity? identity, out string error) =>
        TryVerify(header, PeerHandshake.Role.Caller, expectedNonce: null, out identity, out error);

    /// <summary>Verifies the callee's answer to a call this member made with <paramref name="callerNonce"/>.</summary>
    public bool TryVerifyCallee(string? header, ReadOnlySpan<byte> callerNonce, out PeerIdentity? identity, out string error) =>
        TryVerify(header, PeerHandshake.Role.Callee, callerNonce.ToArray(), out identity, out error);

    private bool TryVerify(string? header, PeerHandshake.Role role, byte[]? expectedNonce, out PeerIdentity? identity, out string error)
    {
        identity = null;
        var parts = header?.Split(' ') ?? [];
        if (parts.Length != 4)
        {
            error = $"missing or malformed '{PeerHandshake.HeaderName}' header: expected '<member> <timestamp ms> <nonce hex> <signature base64>'";
            return false;
        }

        var member = consortium.FindMember(parts[0]);
        if (member is null)
        {
            error = $"'{parts[0]}' is not a member of {consortium.Origin}";
            return false;
        }

        if (!ulong.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var timestampMs)
            || !TryHex(parts[2], out var nonce) || nonce.Length != PeerHandshake.NonceLength)
        {
            error = "handshake timestamp or nonce is malformed";
            return false;
        }

        var now = nowMs();
        var skewMs = (ulong)clockSkew.TotalMilliseconds;
        if (timestampMs + skewMs < now || timestampMs > now + skewMs)
        {
            error = $"handshake of '{member.Id}' is dated {timestampMs} ms, more than {skewMs} ms from this node's clock ({now} ms)";
            return false;
        }

        if (expectedNonce is not null && !nonce.AsSpan().SequenceEqual(expectedNonce))
        {
            error = $"answer of '{member.Id}' does not carry this call's nonce";
            return false;
        }

        var signature = StrictEncoding.TryDecodeBase64(parts[3], out var decoded) ? decoded : null;
        var message = PeerHandshake.Message(consortium.Origin, member.Id, selfId, timestampMs, nonce, role);
        if (signature is null || !member.Key.Verify(message, signature))
        {
            error = $"handshake signature does not verify with the key of member '{member.Id}'";
            return false;
        }

        if (expectedNonce is null && !RememberNonce(parts[2], timestampMs, now, skewMs))
        {
            error = $"handshake nonce of '{member.Id}' was already used";
            return false;
        }

        identity = new PeerIdentity(member.Id, nonce);
        error = string.Empty;
        return true;
    }

    private bool RememberNonce(string nonceHex, ulong timestampMs, ulong now, ulong skewMs)
    {
        lock (_gate)
        {
            if (_seenNonces.Count >= RememberedNoncesMax)
            {
                // Forget nonces that are too old to be accepted again anyway.
                foreach (var (key, seenAt) in _seenNonces.ToList())
                {
                    if (seenAt + skewMs < now)
                    {
                        _seenNonces.Remove(key);
                    }
                }

                if (_seenNonces.Count >= RememberedNoncesMax)
                {
                    return false;
                }
            }

            return _seenNonces.TryAdd(nonceHex, timestampMs);
        }
    }

    private static bool TryHex(string text, out byte[] bytes)
    {
        bytes = [];
        if (text.Length % 2 != 0 || !text.All(c => c is (>= '0' and <= '9') or (>= 'a' and <= 'f')))
        {
            return false;
        }

        bytes = Convert.FromHexString(text);
        return true;
    }
}
