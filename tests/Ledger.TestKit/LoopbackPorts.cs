using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace Ledger.TestKit;

/// <summary>Ports on 127.0.0.1 for the nodes a test starts, chosen at run time.</summary>
public static class LoopbackPorts
{
    /// <summary>
    /// Distinct free ports on 127.0.0.1, all held open until every one is chosen. They are drawn at random
    /// below the kernel's ephemeral range when it is known, so that no outgoing connection and no other
    /// program's port-0 listener takes one between the choice and a member's (re)start.
    /// </summary>
    public static int[] Free(int count)
    {
        const int attemptsMax = 200;
        var listeners = new List<TcpListener>(count);
        try
        {
            var (low, high) = PortsOutsideEphemeralRange();
            for (var attempt = 0; attempt < attemptsMax && listeners.Count < count && high > low; attempt++)
            {
                var listener = new TcpListener(IPAddress.Loopback, RandomNumberGenerator.GetInt32(low, high));
                try
                {
                    listener.Start();
                    listeners.Add(listener);
                }
                catch (SocketException)
                {
                    listener.Dispose();
                }
            }

            while (listeners.Count < count)
            {
                var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                listeners.Add(listener);
            }

            return [.. listeners.Select(listener => ((IPEndPoint)listener.LocalEndpoint).Port)];
        }
        finally
        {
            foreach (var listener in listeners)
            {
                listener.Stop();
                listener.Dispose();
            }
        }
    }

    /// <summary>[low, high) of ports below the ephemeral range (Linux), or an empty range when unknown.</summary>
    private static (int Low, int High) PortsOutsideEphemeralRange()
    {
        const string rangeFile = "/proc/sys/net/ipv4/ip_local_port_range";
        const int lowest = 10_000;
        try
        {
            var parts = File.ReadAllText(rangeFile).Split((char[])[' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries);
            return int.TryParse(parts[0], System.Globalization.CultureInfo.InvariantCulture, out var ephemeralLow) && ephemeralLow > lowest + 1_000
                ? (lowest, ephemeralLow)
                : (0, 0);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or IndexOutOfRangeException)
        {
            return (0, 0);
        }
    }

    /// <summary>One free port (<see cref="Free(int)"/>).</summary>
    public static int Free() => Free(1)[0];
}
