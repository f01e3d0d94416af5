using System.Globalization;
using System.Security.Cryptography;

namespace Ledger.Chaos.Tests.Support;

/// <summary>
/// The test network: a hub namespace holding a bridge, one namespace per member and one for the
/// clients, each joined to the bridge by a veth pair (<c>eth0</c> inside, at <c>10.87.0.x/24</c>).
/// Every name starts with <see cref="Prefix"/>; disposal kills whatever runs in them and deletes them,
/// and <see cref="RemoveStaleAsync"/> clears what a crashed earlier run left.
/// </summary>
internal sealed class ChaosNetwork : IAsyncDisposable
{
    public const string Prefix = "ledger-chaos-";

    public const string Interface = "eth0";

    private const string Subnet = "10.87.0";

    private const int ClientHost = 200;

    /// <summary>
    /// Names of this process's runs start with this: <c>ledger-chaos-p{pid}-</c>. Stale-run cleanup
    /// leaves alone whatever another live process owns (two runs on one machine must not tear down
    /// each other's networks).
    /// </summary>
    public static readonly string OwnPrefix = $"{Prefix}p{Environment.ProcessId}-";

    private readonly string _run = "p" + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture) + "-"
        + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
    private readonly List<string> _created = [];

    private ChaosNetwork(int memberCount)
    {
        Members = [.. Enumerable.Range(0, memberCount).Select(i => $"{Prefix}{_run}-m{i}")];
        Client = $"{Prefix}{_run}-client";
        Hub = $"{Prefix}{_run}-hub";
    }

    public IReadOnlyList<string> Members { get; }

    public string Client { get; }

    public string Hub { get; }

    public static string MemberAddress(int index) => $"{Subnet}.{index + 1}";

    public static string ClientAddress => $"{Subnet}.{ClientHost}";

    /// <summary>Creates the network (after clearing stale namespaces of earlier runs).</summary>
    public static async Task<ChaosNetwork> CreateAsync(int memberCount)
    {
        if (Environment.UserName != "root" || !OperatingSystem.IsLinux())
        {
            throw new InvalidOperationException("the fault-injection tests create network namespaces: run them as root on Linux with iproute2 and iptables (CI does)");
        }

        await RemoveStaleAsync();
        var network = new ChaosNetwork(memberCount);
        try
        {
            await network.AddNamespaceAsync(network.Hub);
            await Shell.RunAsync("ip", "-n", network.Hub, "link", "add", "br0", "type", "bridge");
            await Shell.RunAsync("ip", "-n", network.Hub, "link", "set", "br0", "up");
            for (var i = 0; i < memberCount; i++)
            {
                await network.AddHostAsync(network.Members[i], $"p{i}", MemberAddress(i));
            }

            await network.AddHostAsync(network.Client, "pc", ClientAddress);
            return network;
        }
        catch
        {
            await network.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Kills every process in namespaces named <see cref="Prefix"/>*, unmounts tmpfs left under such
    /// folders, deletes the namespaces: all of them except those another live process owns.
    /// </summary>
    public static async Task RemoveStaleAsync()
    {
        var (_, list) = await Shell.TryRunAsync("ip", "netns", "list");
        var stale = list.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' ', 2)[0])
            .Where(name => name.StartsWith(Prefix, StringComparison.Ordinal) && !OwnedByAnotherLiveProcess(name));
        foreach (var name in stale)
        {
            await RemoveAsync(name);
        }

        foreach (var mountPoint in File.ReadAllLines("/proc/mounts").Select(line => line.Split(' '))
            .Where(fields => fields.Length > 2 && fields[2] == "tmpfs" && fields[1].Contains(Prefix, StringComparison.Ordinal) && !OwnedByAnotherLiveProcess(fields[1]))
            .Select(fields => fields[1]))
        {
            await Shell.TryRunAsync("umount", "-l", mountPoint);
        }
    }

    /// <summary>True when <paramref name="name"/> carries another process's <c>ledger-chaos-p{pid}-</c> and that process runs.</summary>
    public static bool OwnedByAnotherLiveProcess(string name)
    {
        var at = name.IndexOf(Prefix + "p", StringComparison.Ordinal);
        if (at < 0)
        {
            return false;
        }

        var digits = name[(at + Prefix.Length + 1)..].TakeWhile(char.IsAsciiDigit).ToArray();
        return int.TryParse(digits, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pid)
            && pid != Environment.ProcessId
            && Directory.Exists($"/proc/{pid}");
    }

    /// <summary>Brings a member's link down (it hears and says nothing) or up again.</summary>
    public Task SetLinkAsync(int member, bool up) => Shell.RunAsync("ip", "-n", Members[member], "link", "set", Interface, up ? "up" : "down");

    /// <summary>Runs iptables in a member's namespace.</summary>
    public Task IptablesAsync(int member, params string[] arguments) => Shell.InNamespaceAsync(Members[member], "iptables", arguments);

    /// <summary>Drops every packet between a member and the other members given (both directions, seen from the member).</summary>
    public async Task DropBetweenAsync(int member, IEnumerable<int> others)
    {
        foreach (var other in others)
        {
            await IptablesAsync(member, "-A", "INPUT", "-s", MemberAddress(other), "-j", "DROP");
            await IptablesAsync(member, "-A", "OUTPUT", "-d", MemberAddress(other), "-j", "DROP");
        }
    }

    /// <summary>Removes every firewall rule, queueing discipline and link-down of every member: the network is whole again.</summary>
    public async Task HealAsync()
    {
        for (var i = 0; i < Members.Count; i++)
        {
            await IptablesAsync(i, "-F");
            await IptablesAsync(i, "-t", "mangle", "-F");
            await Shell.TryRunAsync("ip", "netns", "exec", Members[i], "tc", "qdisc", "del", "dev", Interface, "root");
            await SetLinkAsync(i, up: true);
        }
    }

    /// <summary>True when this kernel has the netem queueing discipline (delay, loss, reordering); tried on the hub's bridge.</summary>
    public async Task<bool> HasNetemAsync()
    {
        var (exitCode, _) = await Shell.TryRunAsync("ip", "netns", "exec", Hub, "tc", "qdisc", "add", "dev", "br0", "root", "netem", "delay", "1ms");
        if (exitCode == 0)
        {
            await Shell.TryRunAsync("ip", "netns", "exec", Hub, "tc", "qdisc", "del", "dev", "br0", "root");
        }

        return exitCode == 0;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var name in Enumerable.Reverse(_created))
        {
            await RemoveAsync(name);
        }
    }

    private static async Task RemoveAsync(string name)
    {
        var (_, pids) = await Shell.TryRunAsync("ip", "netns", "pids", name);
        foreach (var pid in pids.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (int.TryParse(pid, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            {
                await Shell.TryRunAsync("kill", "-9", pid);
            }
        }

        await Shell.TryRunAsync("ip", "netns", "del", name);
    }

    private async Task AddNamespaceAsync(string name)
    {
        _created.Add(name);
        await Shell.RunAsync("ip", "netns", "add", name);
        await Shell.RunAsync("ip", "-n", name, "link", "set", "lo", "up");
    }

    private async Task AddHostAsync(string name, string hubPort, string address)
    {
        await AddNamespaceAsync(name);
        await Shell.RunAsync("ip", "-n", Hub, "link", "add", hubPort, "type", "veth", "peer", "name", Interface, "netns", name);
        await Shell.RunAsync("ip", "-n", Hub, "link", "set", hubPort, "master", "br0");
        await Shell.RunAsync("ip", "-n", Hub, "link", "set", hubPort, "up");
        await Shell.RunAsync("ip", "-n", name, "addr", "add", address + "/24", "dev", Interface);
        await Shell.RunAsync("ip", "-n", name, "link", "set", Interface, "up");
    }
}
