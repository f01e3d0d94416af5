using System.Globalization;
using System.Net.Sockets;

// The namespace and type name are fixed by the metadata of Makaretu.Dns.Multicast 0.27.0, which references
// [System.Net.IPNetwork]System.Net.IPNetwork and calls only `static IPNetwork Parse(string)` on it.
#pragma warning disable CA1716 // the namespace is the one the package binds to
namespace System.Net;
#pragma warning restore CA1716

/// <summary>An IP network given in CIDR notation ("169.254.0.0/16"), as Makaretu.Dns.Multicast expects it.</summary>
public sealed class IPNetwork
{
    private readonly byte[] _networkBytes;

    private IPNetwork(IPAddress network, int prefixLength)
    {
        Network = network;
        PrefixLength = prefixLength;
        _networkBytes = network.GetAddressBytes();
    }

    /// <summary>The network address, with every host bit cleared.</summary>
    public IPAddress Network { get; }

    /// <summary>The number of leading bits that name the network.</summary>
    public int PrefixLength { get; }

    /// <summary>Parses "address/prefix" (or a bare address, taken as a single host).</summary>
    /// <exception cref="ArgumentException">The text is not an IPv4 or IPv6 network.</exception>
    public static IPNetwork Parse(string network)
    {
        ArgumentNullException.ThrowIfNull(network);
        var slash = network.IndexOf('/', StringComparison.Ordinal);
        var addressText = slash < 0 ? network : network[..slash];
        if (!IPAddress.TryParse(addressText.Trim(), out var address))
        {
            throw new ArgumentException($"not an IP network: '{network}'", nameof(network));
        }

        var bitsMax = address.AddressFamily == AddressFamily.InterNetworkV6 ? 128 : 32;
        var prefixLength = bitsMax;
        if (slash >= 0 && (!int.TryParse(network.AsSpan(slash + 1).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out prefixLength)
            || prefixLength > bitsMax))
        {
            throw new ArgumentException($"not an IP network: '{network}'", nameof(network));
        }

        var bytes = address.GetAddressBytes();
        Mask(bytes, prefixLength);
        return new IPNetwork(new IPAddress(bytes), prefixLength);
    }

    /// <summary>Whether the address lies in this network.</summary>
    public bool Contains(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        var bytes = address.GetAddressBytes();
        if (bytes.Length != _networkBytes.Length)
        {
            return false;
        }

        Mask(bytes, PrefixLength);
        return bytes.AsSpan().SequenceEqual(_networkBytes);
    }

    /// <inheritdoc />
    public override string ToString() => $"{Network}/{PrefixLength.ToString(CultureInfo.InvariantCulture)}";

    private static void Mask(byte[] bytes, int prefixLength)
    {
        for (var i = 0; i < bytes.Length; i++)
        {
            var bitsKept = Math.Clamp(prefixLength - (i * 8), 0, 8);
            bytes[i] &= (byte)(0xFF << (8 - bitsKept));
        }
    }
}
