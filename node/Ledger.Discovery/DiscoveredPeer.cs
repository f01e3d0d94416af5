using System.Net;

namespace Ledger.Discovery;

/// <summary>
/// A candidate address for a consortium member, as announced over mDNS. Nothing in it is
/// authenticated: anyone on the link can announce any name. Use it only after the peer has proved,
/// at that address, that it holds the member key pinned in the consortium file (see
/// <see cref="IPeerAddressVerifier"/>).
/// </summary>
/// <param name="Origin">The ledger's origin, as announced (always the origin discovery was started for).</param>
/// <param name="MemberName">The member name the announcement claims.</param>
/// <param name="Addresses">The announced addresses (at most <see cref="PeerDiscoveryOptions.AddressesPerPeerMax"/>).</param>
/// <param name="Port">The announced peer port.</param>
/// <param name="SeenAt">When this node received the announcement.</param>
public sealed record DiscoveredPeer(string Origin, string MemberName, IPAddress[] Addresses, int Port, DateTimeOffset SeenAt)
{
    /// <summary>True when both name the same member at the same port and the same set of addresses.</summary>
    internal bool SameLocationAs(DiscoveredPeer other) =>
        MemberName == other.MemberName
        && Port == other.Port
        && Addresses.Length == other.Addresses.Length
        && Addresses.All(other.Addresses.Contains);
}
