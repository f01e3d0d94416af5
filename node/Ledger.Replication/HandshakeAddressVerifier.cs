using System.Net;
using Grpc.Core;
using Grpc.Net.Client;
using Ledger.Replication.Protos;

namespace Ledger.Replication;

/// <summary>
/// Checks that the process at an address holds a member's key: one <c>Hello</c> call whose answer
/// must carry that member's handshake over this call's nonce (<see cref="PeerHandshake"/>).
/// </summary>
internal sealed class HandshakeAddressVerifier(PeerContext peers, string scheme)
{
    /// <summary>How long the candidate may take to answer.</summary>
    public static readonly TimeSpan CallDeadline = TimeSpan.FromSeconds(2);

    /// <summary>The address as this member would call it.</summary>
    public string AddressOf(IPEndPoint endpoint) => $"{scheme}://{(endpoint.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{endpoint.Address}]" : endpoint.Address.ToString())}:{endpoint.Port}";

    public async ValueTask<bool> IsMemberAtAsync(string memberName, IPEndPoint endpoint, CancellationToken cancellationToken)
    {
        try
        {
            using var channel = GrpcChannel.ForAddress(AddressOf(endpoint));
            var (header, nonce) = PeerHandshake.CallerHeader(peers.MemberKey, peers.Consortium.Origin, memberName, peers.NowMs());
            using var call = new Peer.PeerClient(channel).HelloAsync(
                new Ack(), new Metadata { { PeerHandshake.HeaderName, header } }, DateTime.UtcNow + CallDeadline, cancellationToken);
            var answered = await call.ResponseHeadersAsync;
            await call.ResponseAsync;
            return peers.Authenticator.TryVerifyCallee(answered.GetValue(PeerHandshake.HeaderName), nonce, out var callee, out _)
                && callee!.MemberId == memberName;
        }
        catch (RpcException)
        {
            return false;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }
}
