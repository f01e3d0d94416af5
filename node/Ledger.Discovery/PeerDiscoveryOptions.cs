using System.Net;

namespace Ledger.Discovery;

/// <summary>What <see cref="PeerDiscovery"/> announces, where and how often.</summary>
public sealed record PeerDiscoveryOptions
{
    /// <summary>The mDNS service type every member announces.</summary>
    public const string ServiceType = "_ledger._tcp";

    /// <summary>Upper bound on <see cref="InterfaceNames"/>.</summary>
    public const int InterfacesMax = 16;

    /// <summary>Upper bound on the addresses kept from one announcement (and announced by this node).</summary>
    public const int AddressesPerPeerMax = 8;

    /// <summary>Upper bound on the length of an origin or member name carried in the TXT record.</summary>
    public const int NameLengthMax = 200;

    /// <summary>The ledger's origin; announcements of other origins are ignored.</summary>
    public required string Origin { get; init; }

    /// <summary>This node's member name.</summary>
    public required string MemberName { get; init; }

    /// <summary>The port this node's peer endpoint listens on (announced in the SRV record).</summary>
    public required int Port { get; init; }

    /// <summary>Whether to announce this node and answer queries for it.</summary>
    public bool Advertise { get; init; } = true;

    /// <summary>Whether to query for and report other members.</summary>
    public bool Browse { get; init; } = true;

    /// <summary>
    /// The only network interfaces (by name, e.g. "eth0") discovery may send on or listen to. Nothing
    /// is chosen by default: with no names, or names that match no interface, discovery sends
    /// nothing and reports nothing.
    /// </summary>
    public IReadOnlyList<string> InterfaceNames { get; init; } = [];

    /// <summary>
    /// The addresses to announce; by default the IPv4 addresses (and global IPv6 addresses when
    /// <see cref="UseIpv6"/>) of the allowed interfaces.
    /// </summary>
    public IReadOnlyList<IPAddress> AdvertisedAddresses { get; init; } = [];

    /// <summary>Whether to use mDNS over IPv6 (ff02::fb) as well as IPv4 (224.0.0.251).</summary>
    public bool UseIpv6 { get; init; }

    /// <summary>How often this node announces itself and (when browsing) queries for the others.</summary>
    public TimeSpan AnnounceInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Upper bound on the members remembered (the least recently seen one is forgotten first).</summary>
    public int PeersRememberedMax { get; init; } = 256;

    /// <summary>Upper bound on discoveries queued for the reader of <see cref="PeerDiscovery.Discovered"/> (the oldest is dropped).</summary>
    public int DiscoveredQueueMax { get; init; } = 256;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid option.</summary>
    public void Validate()
    {
        RequireName(Origin, nameof(Origin));
        RequireName(MemberName, nameof(MemberName));
        Require(Port is > 0 and <= ushort.MaxValue, nameof(Port), "must be 1..65535");
        Require(InterfaceNames.Count <= InterfacesMax, nameof(InterfaceNames), $"at most {InterfacesMax}");
        Require(InterfaceNames.All(name => !string.IsNullOrWhiteSpace(name)), nameof(InterfaceNames), "names must not be empty");
        Require(AdvertisedAddresses.Count <= AddressesPerPeerMax, nameof(AdvertisedAddresses), $"at most {AddressesPerPeerMax}");
        Require(AnnounceInterval >= TimeSpan.FromMilliseconds(100) && AnnounceInterval <= TimeSpan.FromHours(1), nameof(AnnounceInterval), "must be 100 ms..1 h");
        Require(PeersRememberedMax is > 0 and <= 10_000, nameof(PeersRememberedMax), "must be 1..10000");
        Require(DiscoveredQueueMax is > 0 and <= 100_000, nameof(DiscoveredQueueMax), "must be 1..100000");
    }

    private static void RequireName(string value, string option) =>
        Require(
            !string.IsNullOrEmpty(value) && value.Length <= NameLengthMax && !value.Any(char.IsControl),
            option,
            $"must be 1..{NameLengthMax} characters without control characters");

    private static void Require(bool condition, string option, string rule)
    {
        if (!condition)
        {
            throw new ArgumentException($"discovery option {option} {rule}", option);
        }
    }
}
