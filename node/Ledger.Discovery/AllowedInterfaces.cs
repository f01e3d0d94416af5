using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace Ledger.Discovery;

/// <summary>The interfaces discovery may use, and the networks on their links.</summary>
internal sealed class AllowedInterfaces
{
    private readonly List<(byte[] Network, int PrefixLength)> _networks;
    private readonly List<IPAddress> _addresses;

    private AllowedInterfaces(List<NetworkInterface> interfaces, List<(byte[] Network, int PrefixLength)> networks, List<IPAddress> addresses)
    {
        Interfaces = interfaces;
        Names = [.. interfaces.Select(nic => nic.Name)];
        _networks = networks;
        _addresses = addresses;
    }

    /// <summary>The named interfaces that exist, are not down and support multicast.</summary>
    public IReadOnlyList<NetworkInterface> Interfaces { get; }

    /// <summary>Their names.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>Looks up the named interfaces on this host (in this network namespace).</summary>
    public static AllowedInterfaces Find(IReadOnlyList<string> wanted)
    {
        var wantedSet = new HashSet<string>(wanted, StringComparer.Ordinal);
        var interfaces = new List<NetworkInterface>();
        var networks = new List<(byte[] Network, int PrefixLength)>();
        var addresses = new List<IPAddress>();
        foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
        {
            if (!wantedSet.Contains(nic.Name) || nic.OperationalStatus == OperationalStatus.Down || !nic.SupportsMulticast)
            {
                continue;
            }

            interfaces.Add(nic);
            foreach (var unicast in nic.GetIPProperties().UnicastAddresses)
            {
                addresses.Add(unicast.Address);
                networks.Add((Masked(unicast.Address.GetAddressBytes(), unicast.PrefixLength), unicast.PrefixLength));
            }
        }

        return new AllowedInterfaces(interfaces, networks, addresses);
    }

    /// <summary>Whether the address lies on one of the allowed links (so an answer from it came in on one of them).</summary>
    public bool IsOnLink(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        var bytes = address.GetAddressBytes();
        return _networks.Any(network =>
            network.Network.Length == bytes.Length
            && Masked(bytes, network.PrefixLength).AsSpan().SequenceEqual(network.Network));
    }

    /// <summary>The addresses worth announcing: IPv4, and IPv6 that is not link-local when IPv6 is used.</summary>
    public IReadOnlyList<IPAddress> AdvertisableAddresses(bool useIpv6, int max) =>
        [.. _addresses
            .Where(address => address.AddressFamily == AddressFamily.InterNetwork
                || (useIpv6 && address.AddressFamily == AddressFamily.InterNetworkV6 && !address.IsIPv6LinkLocal))
            .Take(max)];

    private static byte[] Masked(byte[] bytes, int prefixLength)
    {
        var masked = (byte[])bytes.Clone();
        for (var i = 0; i < masked.Length; i++)
        {
            var bitsKept = Math.Clamp(prefixLength - (i * 8), 0, 8);
            masked[i] &= (byte)(0xFF << (8 - bitsKept));
        }

        return masked;
    }
}
