using System.Diagnostics;
using System.Security.Cryptography;

namespace Ledger.Discovery.Tests.Support;

/// <summary>
/// Network namespaces made for one test, and the probes started in them. Multicast sent inside
/// never reaches the machine's own interfaces. Disposing kills every probe, then deletes every
/// namespace (whatever the test's outcome).
/// </summary>
internal sealed class NetworkNamespaces : IAsyncDisposable
{
    /// <summary>The name every test namespace starts with.</summary>
    public const string Prefix = "ledger-disc-";

    private static readonly TimeSpan CommandDeadline = TimeSpan.FromSeconds(30);

    private readonly List<string> _namespaces = [];
    private readonly List<ProbeProcess> _probes = [];

    /// <summary>Fails the test at once when it cannot create namespaces (it must run as root with iproute2).</summary>
    public NetworkNamespaces()
    {
        if (Environment.UserName != "root" || !OperatingSystem.IsLinux())
        {
            throw new InvalidOperationException("the mDNS tests create network namespaces: run them as root on Linux with iproute2 (CI does)");
        }
    }

    /// <summary>A namespace whose only interface is lo, up and multicast-capable, with the multicast route on it.</summary>
    public async Task<string> AddLoopbackOnlyAsync()
    {
        var name = await AddAsync();
        await IpAsync("-n", name, "link", "set", "lo", "up");
        await IpAsync("-n", name, "link", "set", "lo", "multicast", "on");
        await IpAsync("-n", name, "route", "add", "224.0.0.0/4", "dev", "lo");
        return name;
    }

    /// <summary>
    /// A hub namespace holding a bridge (multicast snooping off) and <paramref name="hosts"/> host
    /// namespaces, each with one veth named <paramref name="interfaceName"/> into the bridge, at
    /// <c>{subnet}.{i}/24</c> (i from 1) and the multicast route on it. Returns the host namespaces.
    /// </summary>
    public async Task<string[]> AddBridgedHostsAsync(int hosts, string subnet, string interfaceName)
    {
        var hub = await AddAsync();
        await IpAsync("-n", hub, "link", "set", "lo", "up");
        await IpAsync("-n", hub, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0");
        await IpAsync("-n", hub, "link", "set", "br0", "up");
        var names = new string[hosts];
        for (var i = 0; i < hosts; i++)
        {
            var host = await AddAsync();
            names[i] = host;
            var port = $"port{i + 1}";
            await IpAsync("-n", host, "link", "set", "lo", "up");
            await IpAsync("-n", hub, "link", "add", port, "type", "veth", "peer", "name", interfaceName, "netns", host);
            await IpAsync("-n", hub, "link", "set", port, "master", "br0");
            await IpAsync("-n", hub, "link", "set", port, "up");
            await IpAsync("-n", host, "addr", "add", $"{subnet}.{i + 1}/24", "dev", interfaceName);
            await IpAsync("-n", host, "link", "set", interfaceName, "up");
            await IpAsync("-n", host, "route", "add", "224.0.0.0/4", "dev", interfaceName);
        }

        return names;
    }

    /// <summary>Adds a veth pair inside <paramref name="networkNamespace"/>, the first end at <paramref name="address"/> (CIDR), both up.</summary>
    public static async Task AddVethPairAsync(string networkNamespace, string first, string second, string address)
    {
        await IpAsync("-n", networkNamespace, "link", "add", first, "type", "veth", "peer", "name", second);
        await IpAsync("-n", networkNamespace, "addr", "add", address, "dev", first);
        await IpAsync("-n", networkNamespace, "link", "set", first, "up");
        await IpAsync("-n", networkNamespace, "link", "set", second, "up");
    }

    /// <summary>
    /// Moves a host to another address: deletes <paramref name="oldAddress"/> (CIDR) from the interface,
    /// adds <paramref name="newAddress"/>, and puts back the multicast route (the kernel drops the
    /// interface's routes with its last address).
    /// </summary>
    public static async Task ReplaceAddressAsync(string networkNamespace, string interfaceName, string oldAddress, string newAddress)
    {
        await IpAsync("-n", networkNamespace, "addr", "del", oldAddress, "dev", interfaceName);
        await IpAsync("-n", networkNamespace, "addr", "add", newAddress, "dev", interfaceName);
        await IpAsync("-n", networkNamespace, "route", "replace", "224.0.0.0/4", "dev", interfaceName);
    }

    /// <summary>Starts a probe in a namespace; it is killed when this object is disposed.</summary>
    public ProbeProcess StartProbe(string name, string networkNamespace, params string[] arguments)
    {
        var probe = ProbeProcess.Start(name, networkNamespace, arguments);
        _probes.Add(probe);
        return probe;
    }

    /// <summary>Starts a discovering probe (announce interval 300 ms; it stops by itself after 120 s at most).</summary>
    public ProbeProcess StartDiscovery(string networkNamespace, string origin, string member, int port, params string[] interfaces) =>
        StartProbe(
            member,
            networkNamespace,
            [
                "discover", "--origin", origin, "--member", member, "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--seconds", "120", "--announce-ms", "300",
                .. interfaces.SelectMany(name => new[] { "--interface", name }),
            ]);

    /// <summary>Kills one probe now (as a crashed member would stop: no goodbye).</summary>
    public static async Task StopAsync(ProbeProcess probe) => await probe.DisposeAsync();

    /// <summary>Everything every probe printed, for failure messages.</summary>
    public string Describe() => string.Join('\n', _probes.Select(probe => probe.Describe()));

    /// <summary>Kills the probes, then deletes the namespaces.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var probe in _probes)
        {
            await probe.DisposeAsync();
        }

        foreach (var name in Enumerable.Reverse(_namespaces))
        {
            await RunAsync(["netns", "del", name], throwOnFailure: false);
        }
    }

    private async Task<string> AddAsync()
    {
        var name = Prefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        _namespaces.Add(name);
        await IpAsync("netns", "add", name);
        return name;
    }

    private static Task IpAsync(params string[] arguments) => RunAsync(arguments, throwOnFailure: true);

    private static async Task RunAsync(string[] arguments, bool throwOnFailure)
    {
        var start = new ProcessStartInfo("ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start ip");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(CommandDeadline);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("ip " + string.Join(' ', arguments) + " did not finish");
        }

        if (throwOnFailure && process.ExitCode != 0)
        {
            throw new InvalidOperationException($"ip {string.Join(' ', arguments)} failed ({process.ExitCode}): {await stderr}{await stdout}");
        }
    }
}
