using System.Net;
using Ledger.Consensus;
using Ledger.Sdk;
using Ledger.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Ledger.TestKit;

namespace Ledger.Replication.Tests;

/// <summary>One member in this process: Kestrel on 127.0.0.1 serving the peer protocol, the Raft host and its transport.</summary>
internal sealed class Replica : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly GrpcPeerTransport _transport;
    private readonly InMemoryKeyValueStore _store;
    private Task? _applyTask;

    private Replica(WebApplication app, GrpcPeerTransport transport, RaftHost host, string name, InMemoryKeyValueStore store, PeerContext peers)
    {
        _store = store;
        Peers = peers;
        _app = app;
        _transport = transport;
        Host = host;
        Name = name;
    }

    public string Name { get; }

    public PeerContext Peers { get; }

    public RaftHost Host { get; }

    public List<CommittedRaftEntry> Applied { get; } = [];

    public static async Task<Replica> StartAsync(Consortium consortium, SignerKey key, int port)
    {
        var peers = new PeerContext(consortium, key, () => (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), TimeSpan.FromSeconds(30));
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(o => o.Listen(IPAddress.Loopback, port, l => l.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(peers);
        var app = builder.Build();
        app.MapGrpcService<PeerService>();
        var genesis = new Membership(consortium.Members.Select(m => MemberIds.Of(m.Id)));
        var store = new InMemoryKeyValueStore();
        var log = new RaftLogStore(store, genesis);
        var config = new RaftConfig { NodeId = peers.SelfId, ElectionTimeoutTicks = 10, HeartbeatTicks = 1 };
        var node = new RaftNode(config, log, new SplitMix64Random(peers.SelfId));
        var transport = new GrpcPeerTransport(peers);
        var host = new RaftHost(node, log, transport, new RaftHostOptions { TickInterval = TimeSpan.FromMilliseconds(50) });
        peers.Host = host;
        await app.StartAsync();
        var replica = new Replica(app, transport, host, key.Name, store, peers);
        transport.Start();
        host.Start();
        replica._applyTask = Task.Run(replica.ApplyAsync);
        return replica;
    }

    private async Task ApplyAsync()
    {
        await foreach (var entry in Host.Committed.ReadAllAsync())
        {
            lock (Applied)
            {
                Applied.Add(entry);
            }
        }
    }

    public List<(ulong Index, string Data)> AppliedSnapshot()
    {
        lock (Applied)
        {
            return [.. Applied.Select(e => (e.Index, System.Text.Encoding.UTF8.GetString(e.Data.Span)))];
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        await _transport.DisposeAsync();
        using (var stopDeadline = new CancellationTokenSource(TimeSpan.FromSeconds(2)))
        {
            await _app.StopAsync(stopDeadline.Token);
        }

        await _app.DisposeAsync();
        if (_applyTask is not null)
        {
            await _applyTask;
        }

        _store.Dispose();
    }
}

/// <summary>A consortium of replicas on 127.0.0.1 with ports chosen at run time; disposed even when a test fails.</summary>
internal sealed class ReplicaCluster : IAsyncDisposable
{
    private ReplicaCluster(Consortium consortium, IReadOnlyList<SignerKey> keys, List<Replica?> replicas)
    {
        Consortium = consortium;
        Keys = keys;
        Replicas = replicas;
    }

    public Consortium Consortium { get; }

    public IReadOnlyList<SignerKey> Keys { get; }

    public List<Replica?> Replicas { get; }

    public IEnumerable<Replica> Running => Replicas.OfType<Replica>();

    public static async Task<ReplicaCluster> StartAsync(int members)
    {
        var keys = Enumerable.Range(0, members).Select(i => SignerKey.Generate($"member-{(char)('a' + i)}")).ToList();
        var ports = LoopbackPorts.Free(keys.Count).ToList();
        var consortium = new Consortium("ledger.test/raft", Consortium.MajorityOf(members),
            [.. keys.Select((k, i) => new ConsortiumMember(k.Name, k.Verifier, $"http://127.0.0.1:{ports[i]}"))], []);
        var cluster = new ReplicaCluster(consortium, keys, [.. keys.Select(_ => (Replica?)null)]);
        try
        {
            for (var i = 0; i < members; i++)
            {
                cluster.Replicas[i] = await Replica.StartAsync(consortium, keys[i], ports[i]);
            }
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }

        return cluster;
    }

    public int Port(int member) => new Uri(Consortium.Members[member].Address!).Port;

    public async Task<Replica> WaitForLeaderAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var leaders = Running.Where(r => r.Host.Status.Role == RaftRole.Leader).ToList();
            if (leaders.Count == 1)
            {
                return leaders[0];
            }

            await Task.Delay(20);
        }

        throw new TimeoutException("no single leader: " + string.Join(", ", Running.Select(r => $"{r.Name} {r.Host.Status}")));
    }

    public async Task StopAsync(Replica replica)
    {
        var index = Replicas.IndexOf(replica);
        Replicas[index] = null;
        await replica.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var replica in Running.ToList())
        {
            await replica.DisposeAsync();
        }
    }
}
