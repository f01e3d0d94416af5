using System.Text;
using Grpc.Core;
using Grpc.Net.Client;
using Ledger.Consensus;
using Ledger.Replication.Protos;
using Ledger.Sdk;

namespace Ledger.Replication.Tests;

/// <summary>Three members in this process, talking the peer protocol over real HTTP/2 on 127.0.0.1.</summary>
public sealed class RaftOverGrpcTests
{
    private static readonly TimeSpan ElectionWait = TimeSpan.FromSeconds(15);

    private static async Task<ulong> ProposeAsync(Replica leader, string text)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        return await leader.Host.ProposeAsync(Encoding.UTF8.GetBytes(text), timeout.Token);
    }

    /// <summary>Proposes on whoever leads; a leader change in between (a starved machine) means asking the next one.</summary>
    private static async Task ProposeOnLeaderAsync(ReplicaCluster cluster, string text)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await ProposeAsync(await cluster.WaitForLeaderAsync(ElectionWait), text);
                return;
            }
            catch (Exception e) when (e is NotLeaderException or ProposalLostException && attempt < 5)
            {
                await Task.Delay(100);
            }
        }
    }

    private static async Task WaitForAppliedAsync(IEnumerable<Replica> replicas, int count)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (replicas.Any(r => r.AppliedSnapshot().Count < count))
        {
            Assert.True(DateTime.UtcNow < deadline, "replicas did not apply " + count + " entries: " +
                string.Join(", ", replicas.Select(r => $"{r.Name}={r.AppliedSnapshot().Count}")));
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task Members_elect_a_leader_replicate_and_survive_the_loss_of_the_leader()
    {
        await using var cluster = await ReplicaCluster.StartAsync(3);
        var leader = await cluster.WaitForLeaderAsync(ElectionWait);
        for (var i = 0; i < 30; i++)
        {
            await ProposeOnLeaderAsync(cluster, "first-" + i);
        }

        await WaitForAppliedAsync(cluster.Running, 30);
        leader = await cluster.WaitForLeaderAsync(ElectionWait);
        var reference = leader.AppliedSnapshot();
        Assert.Equal(Enumerable.Range(0, 30).Select(i => "first-" + i), reference.Select(e => e.Data));
        Assert.All(cluster.Running, r => Assert.Equal(reference, r.AppliedSnapshot()));

        var follower = cluster.Running.First(r => r != leader);
        await Assert.ThrowsAsync<NotLeaderException>(() => ProposeAsync(follower, "refused"));

        await cluster.StopAsync(leader);
        var next = await cluster.WaitForLeaderAsync(ElectionWait);
        Assert.NotEqual(leader.Name, next.Name);
        for (var i = 0; i < 10; i++)
        {
            await ProposeOnLeaderAsync(cluster, "second-" + i);
        }

        await WaitForAppliedAsync(cluster.Running, 40);
        var survivors = cluster.Running.Select(r => r.AppliedSnapshot()).ToList();
        Assert.Equal(survivors[0], survivors[1]);
        Assert.Equal(reference, survivors[0].Take(30));
        Assert.Equal(Enumerable.Range(0, 10).Select(i => "second-" + i), survivors[0].Skip(30).Select(e => e.Data));
    }

    [Fact]
    public async Task A_non_member_and_a_member_with_a_wrong_key_are_refused_and_the_consortium_keeps_working()
    {
        await using var cluster = await ReplicaCluster.StartAsync(3);
        await cluster.WaitForLeaderAsync(ElectionWait);
        var target = cluster.Consortium.Members[0];
        using var channel = GrpcChannel.ForAddress(target.Address!);
        var client = new Peer.PeerClient(channel);
        var vote = new RaftMessage { Kind = (uint)MessageKind.Vote, From = MemberIds.Of("member-b"), To = MemberIds.Of(target.Id), Term = 1_000 };
        var now = (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        foreach (var key in new[] { SignerKey.Generate("member-z"), SignerKey.Generate("member-b") })
        {
            var headers = new Metadata { { PeerHandshake.HeaderName, PeerHandshake.CallerHeader(key, cluster.Consortium.Origin, target.Id, now).Header } };
            var error = await Assert.ThrowsAsync<RpcException>(async () => await client.RequestVoteAsync(vote, headers));
            Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
        }

        var noHeader = await Assert.ThrowsAsync<RpcException>(async () => await client.RequestVoteAsync(vote));
        Assert.Equal(StatusCode.Unauthenticated, noHeader.StatusCode);

        // A real member may not speak for another one.
        var c = cluster.Keys[2];
        var spoof = new Metadata { { PeerHandshake.HeaderName, PeerHandshake.CallerHeader(c, cluster.Consortium.Origin, target.Id, now).Header } };
        var denied = await Assert.ThrowsAsync<RpcException>(async () => await client.RequestVoteAsync(vote, spoof));
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);

        // Had any refused vote reached a core, every member would have moved to term 1000.
        Assert.All(cluster.Running, r => Assert.True(r.Host.Status.Term < 1_000, $"{r.Name} is at term {r.Host.Status.Term}"));
        await ProposeOnLeaderAsync(cluster, "still-working");
        await WaitForAppliedAsync(cluster.Running, 1);
    }
}
