using System.Net;

namespace Ledger.Discovery;

/// <summary>
/// Proves that a discovered address really is a member. The node implements it with the peer
/// handshake (node/Ledger.Replication/PeerHandshake.cs): call the address with a
/// <c>PeerHandshake.CallerHeader</c> addressed to <paramref name="memberName"/> and accept only if
/// <c>PeerAuthenticator.TryVerifyCallee</c> succeeds over that nonce with the identity
/// <paramref name="memberName"/>, i.e. the answer is signed by the member key pinned in the
/// consortium file. An mDNS announcement alone proves nothing.
/// </summary>
public interface IPeerAddressVerifier
{
    /// <summary>True only if the peer at <paramref name="endpoint"/> proved it holds <paramref name="memberName"/>'s key.</summary>
    ValueTask<bool> IsMemberAtAsync(string memberName, IPEndPoint endpoint, CancellationToken cancellationToken);
}

/// <summary>Turns candidate discoveries into verified peer-book entries.</summary>
public static class DiscoveredPeerVerification
{
    /// <summary>
    /// Tries the announced addresses of <paramref name="peer"/> in order (at most
    /// <see cref="PeerDiscoveryOptions.AddressesPerPeerMax"/>); the first one <paramref name="verifier"/>
    /// accepts is recorded in <paramref name="book"/> and returned. Returns null, and changes
    /// nothing, when none is accepted. A member the caller does not know (not in the consortium)
    /// should never reach this: pass <paramref name="isMember"/> to refuse it before any call.
    /// </summary>
    public static async Task<IPEndPoint?> VerifyAsync(
        DiscoveredPeer peer,
        Func<string, bool> isMember,
        IPeerAddressVerifier verifier,
        PeerBook book,
        TimeProvider timeProvider,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(isMember);
        ArgumentNullException.ThrowIfNull(verifier);
        ArgumentNullException.ThrowIfNull(book);
        ArgumentNullException.ThrowIfNull(timeProvider);
        if (!isMember(peer.MemberName))
        {
            return null;
        }

        foreach (var address in peer.Addresses.Take(PeerDiscoveryOptions.AddressesPerPeerMax))
        {
            var endpoint = new IPEndPoint(address, peer.Port);
            if (await verifier.IsMemberAtAsync(peer.MemberName, endpoint, cancellationToken).ConfigureAwait(false))
            {
                book.RecordVerified(peer.MemberName, endpoint, timeProvider.GetUtcNow());
                return endpoint;
            }
        }

        return null;
    }
}
