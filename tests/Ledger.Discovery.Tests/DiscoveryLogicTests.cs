using System.Net;
using System.Reflection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ledger.Discovery.Tests;

public sealed class DiscoveryLogicTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 29, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("member-a")]
    [InlineData("Member A (Acme GmbH)")]
    [InlineData("ÜBER--weird__name")]
    [InlineData("---")]
    [InlineData("a-very-long-member-name-that-goes-on-and-on-beyond-any-dns-label-limit-for-sure")]
    public void Instance_names_are_dns_labels(string member)
    {
        var label = ServiceNames.InstanceName("dev.ledger.local/bd1eafd8", member);
        Assert.InRange(label.Length, 1, 63);
        Assert.Matches("^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", label);
    }

    [Fact]
    public void Instance_names_differ_across_ledgers_and_across_names_that_reduce_alike()
    {
        Assert.NotEqual(ServiceNames.InstanceName("o1", "member-a"), ServiceNames.InstanceName("o2", "member-a"));
        Assert.NotEqual(ServiceNames.InstanceName("o1", "Member A"), ServiceNames.InstanceName("o1", "member-a"));
        Assert.Equal(ServiceNames.InstanceName("o1", "member-a"), ServiceNames.InstanceName("o1", "member-a"));
        Assert.StartsWith("member-a-", ServiceNames.InstanceName("o1", "member-a"), StringComparison.Ordinal);
    }

    [Fact]
    public void Invalid_options_are_refused_with_the_option_named()
    {
        var good = new PeerDiscoveryOptions { Origin = "o", MemberName = "m", Port = 7400 };
        good.Validate();
        Assert.Equal("Port", Assert.Throws<ArgumentException>(() => (good with { Port = 0 }).Validate()).ParamName);
        Assert.Equal("Port", Assert.Throws<ArgumentException>(() => (good with { Port = 70_000 }).Validate()).ParamName);
        Assert.Equal("Origin", Assert.Throws<ArgumentException>(() => (good with { Origin = "" }).Validate()).ParamName);
        Assert.Equal("MemberName", Assert.Throws<ArgumentException>(() => (good with { MemberName = "a\nb" }).Validate()).ParamName);
        Assert.Equal("AnnounceInterval", Assert.Throws<ArgumentException>(() => (good with { AnnounceInterval = TimeSpan.Zero }).Validate()).ParamName);
        Assert.Equal("PeersRememberedMax", Assert.Throws<ArgumentException>(() => (good with { PeersRememberedMax = 0 }).Validate()).ParamName);
        Assert.Equal("InterfaceNames", Assert.Throws<ArgumentException>(() => (good with { InterfaceNames = [" "] }).Validate()).ParamName);
        Assert.Equal(
            "InterfaceNames",
            Assert.Throws<ArgumentException>(() => (good with { InterfaceNames = [.. Enumerable.Range(0, 17).Select(i => "eth" + i)] }).Validate()).ParamName);
    }

    [Fact]
    public async Task Without_any_existing_allowed_interface_discovery_stays_idle()
    {
        // No interface of this name exists, so no socket is opened (this test runs outside any namespace).
        var discovery = new PeerDiscovery(
            new PeerDiscoveryOptions { Origin = "o", MemberName = "m", Port = 7400, InterfaceNames = ["ledger-none0"] },
            NullLogger<PeerDiscovery>.Instance);
        discovery.Start();
        Assert.Empty(discovery.ActiveInterfaceNames);
        Assert.Throws<InvalidOperationException>(discovery.Start);
        await discovery.DisposeAsync();
        Assert.True(discovery.Discovered.Completion.IsCompleted);
        Assert.Empty(discovery.Peers);
    }

    [Fact]
    public async Task With_no_interface_named_discovery_stays_idle()
    {
        await using var discovery = new PeerDiscovery(
            new PeerDiscoveryOptions { Origin = "o", MemberName = "m", Port = 7400 },
            NullLogger<PeerDiscovery>.Instance);
        discovery.Start();
        Assert.Empty(discovery.ActiveInterfaceNames);
    }

    [Fact]
    public void The_compatibility_assembly_is_the_one_Makaretu_loads()
    {
        MulticastCompatibility.EnsureLoadable();
        var type = Type.GetType("System.Net.IPNetwork, System.Net.IPNetwork", throwOnError: true)!;
        Assert.Equal(new Version(2, 1, 2, 0), type.Assembly.GetName().Version);
        var parse = type.GetMethod("Parse", BindingFlags.Public | BindingFlags.Static, [typeof(string)])!;
        var contains = type.GetMethod("Contains", [typeof(IPAddress)])!;

        var linkLocal = parse.Invoke(null, ["169.254.0.0/16"]);
        Assert.Equal("169.254.0.0/16", linkLocal!.ToString());
        Assert.True((bool)contains.Invoke(linkLocal, [IPAddress.Parse("169.254.7.9")])!);
        Assert.False((bool)contains.Invoke(linkLocal, [IPAddress.Parse("169.255.0.1")])!);
        var ipv6 = parse.Invoke(null, ["fe80::/10"]);
        Assert.True((bool)contains.Invoke(ipv6, [IPAddress.Parse("fe80::1")])!);
        Assert.False((bool)contains.Invoke(ipv6, [IPAddress.Parse("169.254.7.9")])!);
        var error = Assert.Throws<TargetInvocationException>(() => parse.Invoke(null, ["10.0.0.0/33"]));
        Assert.IsType<ArgumentException>(error.InnerException);
    }

    [Fact]
    public async Task Only_an_address_the_verifier_accepts_reaches_the_peer_book()
    {
        var directory = Directory.CreateTempSubdirectory("ledger-verify-").FullName;
        try
        {
            using var book = new PeerBook(Path.Combine(directory, "peers.db"));
            var time = new FixedTime(T0);
            var peer = new DiscoveredPeer("o", "member-b", [IPAddress.Parse("10.0.0.2"), IPAddress.Parse("10.0.0.3")], 7400, T0);
            var verifier = new ScriptedVerifier(accepted: new IPEndPoint(IPAddress.Parse("10.0.0.3"), 7400));

            Assert.Null(await DiscoveredPeerVerification.VerifyAsync(peer, _ => false, verifier, book, time, CancellationToken.None));
            Assert.Empty(verifier.Tried);
            Assert.Null(book.Get("member-b"));

            Assert.Null(await DiscoveredPeerVerification.VerifyAsync(
                peer with { Addresses = [IPAddress.Parse("10.0.0.9")] }, _ => true, verifier, book, time, CancellationToken.None));
            Assert.Null(book.Get("member-b"));

            var verified = await DiscoveredPeerVerification.VerifyAsync(peer, _ => true, verifier, book, time, CancellationToken.None);
            Assert.Equal(new IPEndPoint(IPAddress.Parse("10.0.0.3"), 7400), verified);
            Assert.Equal(verified, book.Get("member-b")!.Address);
            Assert.Equal(["10.0.0.9:7400", "10.0.0.2:7400", "10.0.0.3:7400"], verifier.Tried.Select(endpoint => endpoint.ToString()));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private sealed class ScriptedVerifier(IPEndPoint accepted) : IPeerAddressVerifier
    {
        public List<IPEndPoint> Tried { get; } = [];

        public ValueTask<bool> IsMemberAtAsync(string memberName, IPEndPoint endpoint, CancellationToken cancellationToken)
        {
            Tried.Add(endpoint);
            return ValueTask.FromResult(memberName == "member-b" && endpoint.Equals(accepted));
        }
    }

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
