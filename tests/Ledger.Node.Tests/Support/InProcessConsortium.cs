using System.Security.Cryptography;
using Grpc.Net.Client;
using Ledger.Node.Hosting;
using Ledger.Sdk;
using Ledger.Sdk.Protos.V1;
using Ledger.TestKit;

namespace Ledger.Node.Tests.Support;

/// <summary>Several members of one consortium hosted in this process on real Kestrel, each on a 127.0.0.1 port chosen at run time.</summary>
internal sealed class InProcessConsortium : IAsyncDisposable
{
    private readonly TempDirectory _dir;
    private readonly NodeHost?[] _hosts;
    private readonly GrpcChannel[] _channels;

    private InProcessConsortium(TempDirectory dir, Consortium consortium, SignerKey issuer, NodeHost?[] hosts)
    {
        _dir = dir;
        Consortium = consortium;
        Issuer = issuer;
        _hosts = hosts;
        _channels = consortium.Members.Select(m => GrpcChannel.ForAddress(m.Address!)).ToArray();
    }

    public Consortium Consortium { get; }

    public SignerKey Issuer { get; }

    public int Count => _hosts.Length;

    public string ConsortiumPath => Path.Combine(_dir.Path, "consortium.json");

    public NodeHost Host(int member) => _hosts[member] ?? throw new InvalidOperationException($"member {member} is stopped");

    public Sdk.Protos.V1.Ledger.LedgerClient Client(int member) => new(_channels[member]);

    /// <summary>
    /// Starts <paramref name="members"/> members. Ports are chosen free and then bound by the nodes, so
    /// another process can take one in between; then the whole consortium starts again on other ports.
    /// </summary>
    public static async Task<InProcessConsortium> StartAsync(int members)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await StartOnceAsync(members);
            }
            catch (NodeStartException exception) when (attempt < 3 && exception.Message.Contains("cannot listen", StringComparison.Ordinal))
            {
            }
        }
    }

    private static async Task<InProcessConsortium> StartOnceAsync(int members)
    {
        var dir = new TempDirectory("ledger-consortium-tests");
        var hosts = new NodeHost?[members];
        try
        {
            var keys = Enumerable.Range(0, members).Select(i => SignerKey.Generate($"member-{(char)('a' + i)}")).ToList();
            var issuer = SignerKey.Generate("issuer-one");
            var consortium = new Consortium(
                "test.ledger/" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)),
                Consortium.MajorityOf(members),
                keys.Select(k => new ConsortiumMember(k.Name, k.Verifier, $"http://127.0.0.1:{LoopbackPorts.Free()}")).ToList(),
                [new ConsortiumIssuer(issuer.Name, issuer.Verifier, "test issuer")]);
            await File.WriteAllTextAsync(Path.Combine(dir.Path, "consortium.json"), consortium.ToJson());
            foreach (var key in keys)
            {
                key.Save(Path.Combine(dir.Path, key.Name + ".key"));
            }

            var cluster = new InProcessConsortium(dir, consortium, issuer, hosts);
            await Task.WhenAll(Enumerable.Range(0, members).Select(async i => hosts[i] = await NodeHost.StartAsync(cluster.Arguments(i), TextWriter.Null)));
            return cluster;
        }
        catch
        {
            // Members that did start are stopped before their folder goes.
            foreach (var host in hosts)
            {
                if (host is not null)
                {
                    await host.DisposeAsync();
                }
            }

            dir.Dispose();
            throw;
        }
    }

    public string[] Arguments(int member)
    {
        var name = Consortium.Members[member].Id;
        return
        [
            "--data-dir", Path.Combine(_dir.Path, name),
            "--consortium", ConsortiumPath,
            "--member-key", Path.Combine(_dir.Path, name + ".key"),
            "--listen", Consortium.Members[member].Address!,
            "--tick-ms", "20",
        ];
    }

    /// <summary>Index of the member every running member agrees leads, waiting up to <paramref name="timeout"/>.</summary>
    public async Task<int> WaitForLeaderAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var leaders = _hosts.Where(h => h is not null).Select(h => h!.Node.Replica!.LeaderName).Distinct().ToList();
            if (leaders is [{ } leader] && _hosts[Index(leader)] is { } host && host.Node.Replica!.IsLeader)
            {
                return Index(leader);
            }

            await Task.Delay(20);
        }

        throw new TimeoutException("no leader elected in time");
    }

    /// <summary>
    /// Waits until no running member holds its votes. Every member of a new consortium holds them
    /// until every other member has answered (docs/consortium.md, "Replaced member"), and a leader
    /// can be elected before the last one has: a test that stops the leader at once may leave the
    /// others short of a majority.
    /// </summary>
    public async Task WaitUntilEveryMemberVotesAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (_hosts.Any(h => h is not null && h.Node.Replica!.Host.Status.VotesHeld))
        {
            if (DateTime.UtcNow >= deadline)
            {
                throw new TimeoutException("a member still holds its votes");
            }

            await Task.Delay(20);
        }
    }

    public int Index(string memberId) => Consortium.Members.Select(m => m.Id).ToList().IndexOf(memberId);

    public AnchorRequest Anchor(params byte[][] digests) => Sdk.Client.LedgerClient.BuildAnchorRequest(Consortium.Origin, Issuer, digests, includeReceipts: true);

    public async Task StopAsync(int member)
    {
        if (_hosts[member] is { } host)
        {
            _hosts[member] = null;
            await host.DisposeAsync();
        }
    }

    /// <summary>Starts a stopped member again on its data directory (or on an empty one, when <paramref name="wipeData"/>).</summary>
    public async Task StartAsync(int member, bool wipeData = false, params string[] extraArguments)
    {
        Assert.Null(_hosts[member]);
        var dataDir = Path.Combine(_dir.Path, Consortium.Members[member].Id);
        if (wipeData && Directory.Exists(dataDir))
        {
            Directory.Delete(dataDir, recursive: true);
        }

        _hosts[member] = await NodeHost.StartAsync([.. Arguments(member), .. extraArguments], TextWriter.Null);
    }

    /// <summary>The data directory of <paramref name="member"/>.</summary>
    public string DataDir(int member) => Path.Combine(_dir.Path, Consortium.Members[member].Id);

    public async ValueTask DisposeAsync()
    {
        foreach (var channel in _channels)
        {
            channel.Dispose();
        }

        for (var i = 0; i < _hosts.Length; i++)
        {
            await StopAsync(i);
        }

        _dir.Dispose();
    }
}
