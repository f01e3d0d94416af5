using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text.Json;
using Ledger.Discovery;
using Microsoft.Extensions.Logging;

// Usage:
//   discover --origin O --member M --port P --interface NAME... [--seconds S] [--announce-ms N] [--no-advertise] [--no-browse]
//   sniff --interface NAME [--seconds S]   (joins 224.0.0.251:5353 on NAME; prints each datagram with the interface it came in on)
// Prints one JSON object per line on stdout: {"event":"started",...}, {"event":"peer",...} or
// {"event":"datagram",...}, and {"event":"stopped"} at the end. Logs go to stderr.
var arguments = ProbeArguments.Parse(args);
if (arguments is null)
{
    await Console.Error.WriteLineAsync("usage: discover --origin O --member M --port P --interface NAME... | sniff --interface NAME [--seconds S]");
    return 2;
}

using var lifetime = new CancellationTokenSource(TimeSpan.FromSeconds(arguments.Seconds));
return arguments.Mode == "sniff"
    ? await Probe.SniffAsync(arguments, lifetime.Token)
    : await Probe.DiscoverAsync(arguments, lifetime.Token);

internal sealed record ProbeArguments(
    string Mode, string Origin, string Member, int Port, List<string> Interfaces, int Seconds, int AnnounceMs, bool Advertise, bool Browse)
{
    public static ProbeArguments? Parse(string[] args)
    {
        if (args.Length == 0 || args[0] is not ("discover" or "sniff"))
        {
            return null;
        }

        var result = new ProbeArguments(args[0], "", "", 0, [], 10, 1000, Advertise: true, Browse: true);
        for (var i = 1; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            result = args[i] switch
            {
                "--origin" => result with { Origin = Next() },
                "--member" => result with { Member = Next() },
                "--port" => result with { Port = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--interface" => result with { Interfaces = [.. result.Interfaces, Next()] },
                "--seconds" => result with { Seconds = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--announce-ms" => result with { AnnounceMs = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--no-advertise" => result with { Advertise = false },
                "--no-browse" => result with { Browse = false },
                _ => throw new ArgumentException($"unknown option {args[i]}"),
            };
        }

        return result;
    }
}

internal static class Probe
{
    private static readonly object Output = new();

    public static async Task<int> DiscoverAsync(ProbeArguments arguments, CancellationToken cancellationToken)
    {
        using var loggers = LoggerFactory.Create(builder => builder
            .SetMinimumLevel(LogLevel.Debug)
            .AddConsole(options => options.LogToStandardErrorThreshold = LogLevel.Trace));
        var discovery = new PeerDiscovery(
            new PeerDiscoveryOptions
            {
                Origin = arguments.Origin,
                MemberName = arguments.Member,
                Port = arguments.Port,
                InterfaceNames = arguments.Interfaces,
                AnnounceInterval = TimeSpan.FromMilliseconds(arguments.AnnounceMs),
                Advertise = arguments.Advertise,
                Browse = arguments.Browse,
            },
            loggers.CreateLogger<PeerDiscovery>());
        await using (discovery.ConfigureAwait(false))
        {
            discovery.Start();
            Write(new { @event = "started", instance = discovery.InstanceName, interfaces = discovery.ActiveInterfaceNames });
            try
            {
                await foreach (var peer in discovery.Discovered.ReadAllAsync(cancellationToken).ConfigureAwait(false))
                {
                    Write(new
                    {
                        @event = "peer",
                        origin = peer.Origin,
                        member = peer.MemberName,
                        addresses = peer.Addresses.Select(address => address.ToString()).ToArray(),
                        port = peer.Port,
                        seenAt = peer.SeenAt,
                    });
                }
            }
            catch (OperationCanceledException)
            {
                // The probe's time is up.
            }
        }

        Write(new { @event = "stopped" });
        return 0;
    }

    public static async Task<int> SniffAsync(ProbeArguments arguments, CancellationToken cancellationToken)
    {
        var nic = NetworkInterface.GetAllNetworkInterfaces().Single(candidate => candidate.Name == arguments.Interfaces.Single());
        var index = nic.GetIPProperties().GetIPv4Properties().Index;
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        socket.Bind(new IPEndPoint(IPAddress.Any, 5353));
        socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.AddMembership, new MulticastOption(IPAddress.Parse("224.0.0.251"), index));
        Write(new { @event = "started", interfaces = new[] { nic.Name } });
        socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.PacketInformation, true);
        var names = NetworkInterface.GetAllNetworkInterfaces()
            .Where(candidate => candidate.Supports(NetworkInterfaceComponent.IPv4))
            .ToDictionary(candidate => candidate.GetIPProperties().GetIPv4Properties().Index, candidate => candidate.Name);
        var buffer = new byte[9000];
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var received = await socket.ReceiveMessageFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), cancellationToken).ConfigureAwait(false);
                Write(new
                {
                    @event = "datagram",
                    from = received.RemoteEndPoint.ToString(),
                    @interface = names.GetValueOrDefault(received.PacketInformation.Interface, "?"),
                    hex = Convert.ToHexStringLower(buffer.AsSpan(0, received.ReceivedBytes)),
                });
            }
        }
        catch (OperationCanceledException)
        {
            // The probe's time is up.
        }

        Write(new { @event = "stopped" });
        return 0;
    }

    private static void Write(object line)
    {
        lock (Output)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(line));
            Console.Out.Flush();
        }
    }
}
