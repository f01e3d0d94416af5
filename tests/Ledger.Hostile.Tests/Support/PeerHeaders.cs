using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Ledger.Sdk;

namespace Ledger.Hostile.Tests.Support;

/// <summary>
/// The caller's 'ledger-peer-auth' header as peer.proto and PeerHandshake describe it, written here from that
/// description: <c>&lt;from&gt; &lt;timestamp ms&gt; &lt;nonce hex&gt; &lt;base64 signature&gt;</c>, the signature over
/// <c>"ledger peer handshake v1\n" origin "\n" from "\n" to "\n" timestamp "\n" nonce-hex "\n" "caller" "\n"</c>.
/// </summary>
internal static class PeerHeaders
{
    public const string Service = "ledger.peer.v1.Peer";
    public const string HeaderName = "ledger-peer-auth";

    public static Metadata Caller(SignerKey key, string origin, string to)
    {
        var now = (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var nonce = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var signed = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $"ledger peer handshake v1\n{origin}\n{key.Name}\n{to}\n{now}\n{nonce}\ncaller\n"));
        var header = string.Create(CultureInfo.InvariantCulture, $"{key.Name} {now} {nonce} {Convert.ToBase64String(key.Sign(signed))}");
        return new Metadata { { HeaderName, header } };
    }

    /// <summary>Every peer RPC with its kind.</summary>
    public static readonly (string Method, MethodType Type)[] Methods =
    [
        ("Replicate", MethodType.DuplexStreaming),
        ("RequestVote", MethodType.Unary),
        ("TimeoutNow", MethodType.Unary),
        ("Cosign", MethodType.Unary),
        ("ReadIndex", MethodType.Unary),
        ("Hello", MethodType.Unary),
        ("RaftState", MethodType.Unary),
    ];
}
