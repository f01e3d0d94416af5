using System.Text;
using Ledger.Discovery.Tests.Support;

namespace Ledger.Discovery.Tests;

/// <summary>
/// Discovery between real processes over real multicast, inside network namespaces made by each
/// test (root needed): nothing leaves them. The tests in this class run one after the other.
/// </summary>
public sealed class MdnsDiscoveryTests
{
    private const string Origin = "test.ledger.local/5eed0001";
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Three_members_on_one_link_each_discover_the_other_two()
    {
        await using var net = new NetworkNamespaces();
        var ns = await net.AddLoopbackOnlyAsync();
        var probes = new[] { ("a", 7401), ("b", 7402), ("c", 7403) }
            .Select(member => (Member: member.Item1, Port: member.Item2, Probe: net.StartDiscovery(ns, Origin, member.Item1, member.Item2, "lo")))
            .ToArray();

        foreach (var (member, _, probe) in probes)
        {
            Assert.Equal(["lo"], await probe.StartedInterfacesAsync(Deadline));
            var others = probes.Where(other => other.Member != member).Select(other => other.Member).ToArray();
            await probe.WaitUntilAsync(p => others.All(other => p.Peers.Any(peer => peer.Member == other)), Deadline, "both other members");
        }

        foreach (var (member, _, probe) in probes)
        {
            var seen = probe.Peers;
            Assert.Equal(
                probes.Where(other => other.Member != member).Select(other => other.Member).Order(),
                seen.Select(peer => peer.Member).Distinct().Order());
            Assert.All(seen, peer => Assert.Equal(Origin, peer.Origin));
            Assert.All(seen, peer => Assert.Equal(["127.0.0.1"], peer.Addresses));
            Assert.All(seen, peer => Assert.Equal(probes.Single(other => other.Member == peer.Member).Port, peer.Port));
        }
    }

    [Fact]
    public async Task Members_of_another_ledger_are_ignored()
    {
        const string otherOrigin = "other.ledger.local/5eed0002";
        await using var net = new NetworkNamespaces();
        var ns = await net.AddLoopbackOnlyAsync();
        var a = net.StartDiscovery(ns, Origin, "a", 7401, "lo");
        var b = net.StartDiscovery(ns, Origin, "b", 7402, "lo");
        // Same member name as ours, other ledger: must not be taken for our "a".
        var otherA = net.StartDiscovery(ns, otherOrigin, "a", 7501, "lo");
        var otherZ = net.StartDiscovery(ns, otherOrigin, "z", 7502, "lo");

        // Several announce rounds of both ledgers have gone by once each probe has seen its
        // partner three times (a member is reported again once per announce interval).
        await a.WaitUntilAsync(p => p.Peers.Count(peer => peer.Member == "b") >= 3, Deadline, "b three times");
        await b.WaitUntilAsync(p => p.Peers.Count(peer => peer.Member == "a") >= 3, Deadline, "a three times");
        await otherA.WaitUntilAsync(p => p.Peers.Count(peer => peer.Member == "z") >= 3, Deadline, "z three times");
        await otherZ.WaitUntilAsync(p => p.Peers.Count(peer => peer.Member == "a") >= 3, Deadline, "a three times");

        Assert.All(a.Peers.Concat(b.Peers), peer => Assert.Equal(Origin, peer.Origin));
        Assert.DoesNotContain(a.Peers, peer => peer.Member == "z" || peer.Port >= 7500);
        Assert.DoesNotContain(b.Peers, peer => peer.Member == "z" || peer.Port >= 7500);
        Assert.All(otherA.Peers.Concat(otherZ.Peers), peer => Assert.Equal(otherOrigin, peer.Origin));
        Assert.DoesNotContain(otherA.Peers, peer => peer.Member == "b");
        Assert.DoesNotContain(otherZ.Peers, peer => peer.Port < 7500);
    }

    [Fact]
    public async Task A_member_restarted_at_another_address_is_reported_at_the_new_address()
    {
        await using var net = new NetworkNamespaces();
        var hosts = await net.AddBridgedHostsAsync(3, "10.213.0", "ldisc0");
        var a = net.StartDiscovery(hosts[0], Origin, "a", 7400, "ldisc0");
        var oldB = net.StartDiscovery(hosts[1], Origin, "b", 7400, "ldisc0");
        await a.WaitUntilAsync(p => p.Peers.Any(peer => peer.Member == "b"), Deadline, "b at its first address");
        Assert.Equal(["10.213.0.2"], a.Peers.First(peer => peer.Member == "b").Addresses);

        await NetworkNamespaces.StopAsync(oldB);
        var newB = net.StartDiscovery(hosts[2], Origin, "b", 7400, "ldisc0");

        await a.WaitUntilAsync(p => p.Peers.Any(peer => peer.Member == "b" && peer.Addresses.SequenceEqual(["10.213.0.3"])), Deadline, "b at its new address");
        await newB.WaitUntilAsync(p => p.Peers.Any(peer => peer.Member == "a"), Deadline, "a");
        Assert.Equal(["10.213.0.1"], newB.Peers.First(peer => peer.Member == "a").Addresses);
        Assert.All(a.Peers, peer => Assert.Equal("b", peer.Member));
        Assert.All(a.Peers, peer => Assert.Single(peer.Addresses));
    }

    [Fact]
    public async Task Discovery_limited_to_a_missing_or_other_interface_sends_nothing_there_and_finds_nothing()
    {
        await using var net = new NetworkNamespaces();
        var ns = await net.AddLoopbackOnlyAsync();
        await NetworkNamespaces.AddVethPairAsync(ns, "ldisc0", "ldisc1", "10.214.0.1/24");
        var sniffer = net.StartProbe("sniffer", ns, "sniff", "--interface", "lo", "--seconds", "120");
        Assert.Equal(["lo"], await sniffer.StartedInterfacesAsync(Deadline));

        var missing = net.StartDiscovery(ns, Origin, "limited-missing", 7410, "ldisc-none");
        var other = net.StartDiscovery(ns, Origin, "limited-other", 7411, "ldisc0");
        Assert.Empty(await missing.StartedInterfacesAsync(Deadline));
        Assert.Equal(["ldisc0"], await other.StartedInterfacesAsync(Deadline));
        var a = net.StartDiscovery(ns, Origin, "a", 7400, "lo");
        var b = net.StartDiscovery(ns, Origin, "b", 7401, "lo");

        // a and b find each other on lo, and the sniffer hears several of their announcements
        // there, while the limited members have been running all along.
        await a.WaitUntilAsync(p => p.Peers.Count(peer => peer.Member == "b") >= 3, Deadline, "b three times");
        await b.WaitUntilAsync(p => p.Peers.Count(peer => peer.Member == "a") >= 3, Deadline, "a three times");
        await sniffer.WaitUntilAsync(p => DatagramsOn(p, "lo", "member=a").Count >= 3, Deadline, "three announcements of a on lo");

        // The member limited to ldisc0 does announce, there only (the sniffer hears every interface
        // on which the group is joined, and tells which one a datagram came in on).
        await sniffer.WaitUntilAsync(p => DatagramsOn(p, "ldisc0", "member=limited-other").Count >= 3, Deadline, "announcements on ldisc0");

        Assert.Empty(missing.Peers);
        Assert.Empty(other.Peers);
        Assert.DoesNotContain(a.Peers.Concat(b.Peers), peer => peer.Member.StartsWith("limited", StringComparison.Ordinal));
        Assert.Empty(DatagramsOn(sniffer, "lo", "member=limited"));
        Assert.DoesNotContain(DatagramsOn(sniffer, "lo", ""), datagram => datagram.From.StartsWith("10.214.", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Discovery_on_a_link_of_its_own_reports_nobody()
    {
        await using var net = new NetworkNamespaces();
        var lonely = await net.AddLoopbackOnlyAsync();
        var crowded = await net.AddLoopbackOnlyAsync();
        var alone = net.StartDiscovery(lonely, Origin, "alone", 7400, "lo");
        var a = net.StartDiscovery(crowded, Origin, "a", 7401, "lo");
        var b = net.StartDiscovery(crowded, Origin, "b", 7402, "lo");
        Assert.Equal(["lo"], await alone.StartedInterfacesAsync(Deadline));

        await a.WaitUntilAsync(p => p.Peers.Count(peer => peer.Member == "b") >= 3, Deadline, "b three times");
        await b.WaitUntilAsync(p => p.Peers.Count(peer => peer.Member == "a") >= 3, Deadline, "a three times");

        Assert.Empty(alone.Peers);
        Assert.DoesNotContain(a.Peers.Concat(b.Peers), peer => peer.Member == "alone");
    }

    private static List<(string From, string Hex)> DatagramsOn(ProbeProcess sniffer, string interfaceName, string containing)
    {
        var needle = Convert.ToHexStringLower(Encoding.UTF8.GetBytes(containing));
        return [.. sniffer.Lines
            .Where(line => line.GetProperty("event").GetString() == "datagram" && line.GetProperty("interface").GetString() == interfaceName)
            .Select(line => (From: line.GetProperty("from").GetString()!, Hex: line.GetProperty("hex").GetString()!))
            .Where(datagram => datagram.Hex.Contains(needle, StringComparison.Ordinal))];
    }
}
