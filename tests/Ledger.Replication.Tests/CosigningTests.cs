using System.Security.Cryptography;
using Grpc.Core;
using Grpc.Net.Client;
using Ledger.Replication.Protos;
using Ledger.Sdk;

namespace Ledger.Replication.Tests;

public sealed class CosigningTests
{
    /// <summary>A hedge delay longer than any call's deadline: a second member is asked only once the first answered or failed.</summary>
    private static readonly TimeSpan NoHedge = TimeSpan.FromMinutes(5);

    /// <summary>A member whose applied tree is given as its roots by size.</summary>
    private sealed class TreeCosigner(SignerKey key, Dictionary<ulong, byte[]> roots) : ICheckpointCosigner
    {
        public Task<CosignOutcome> CosignAsync(Checkpoint checkpoint, CancellationToken cancellationToken)
        {
            if (!roots.TryGetValue(checkpoint.Size, out var root))
            {
                return Task.FromResult(CosignOutcome.Refused($"my tree does not have {checkpoint.Size} leaves"));
            }

            return Task.FromResult(root.AsSpan().SequenceEqual(checkpoint.Root)
                ? CosignOutcome.Signed(SignedNote.Sign(checkpoint.Body(), [key]).Signatures[0])
                : CosignOutcome.Refused($"my tree at size {checkpoint.Size} has another root"));
        }
    }

    /// <summary>Counts the requests a member answers; each waits for <see cref="Gate"/> first.</summary>
    private sealed class CountingCosigner(ICheckpointCosigner inner) : ICheckpointCosigner
    {
        private int _asked;

        public int Asked => Volatile.Read(ref _asked);

        public Task Gate { get; set; } = Task.CompletedTask;

        public async Task<CosignOutcome> CosignAsync(Checkpoint checkpoint, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _asked);
            await Gate.WaitAsync(cancellationToken);
            return await inner.CosignAsync(checkpoint, cancellationToken);
        }
    }

    [Fact]
    public async Task Collecting_a_quorum_asks_only_as_many_members_as_it_needs_and_takes_turns()
    {
        await using var cluster = await ReplicaCluster.StartAsync(3);
        var root = SHA256.HashData("tree of 5"u8);
        var replicas = cluster.Running.ToList();
        var b = new CountingCosigner(new TreeCosigner(cluster.Keys[1], new() { [5] = root }));
        var c = new CountingCosigner(new TreeCosigner(cluster.Keys[2], new() { [5] = root }));
        replicas[1].Peers.Cosigner = b;
        replicas[2].Peers.Cosigner = c;
        var own = SignedNote.Sign(new Checkpoint(cluster.Consortium.Origin, 5, root).Body(), [cluster.Keys[0]]);
        // No hedging: on a busy machine a first call can take longer than the default hedge delay,
        // and the collector would then ask the other member as well.
        using var collector = new CosignatureCollector(replicas[0].Peers, NoHedge);

        for (var i = 0; i < 4; i++)
        {
            var (note, refusals) = await collector.CollectAsync(own, signaturesWanted: 2, CancellationToken.None);
            Assert.Equal(2, note.Signatures.Count);
            Assert.Empty(refusals);
        }

        // One member asked per checkpoint, each in turn; asking for every signature asks everyone.
        Assert.Equal((2, 2), (b.Asked, c.Asked));
        var (all, _) = await collector.CollectAsync(own, CancellationToken.None);
        Assert.Equal(["member-a", "member-b", "member-c"], all.Signatures.Select(s => s.Name).Order());
        Assert.Equal((3, 3), (b.Asked, c.Asked));
    }

    [Fact]
    public async Task A_member_that_refuses_or_does_not_answer_makes_the_collector_ask_another()
    {
        await using var cluster = await ReplicaCluster.StartAsync(3);
        var root = SHA256.HashData("tree of 5"u8);
        var replicas = cluster.Running.ToList();
        var behind = new CountingCosigner(new TreeCosigner(cluster.Keys[1], new()));
        var signs = new CountingCosigner(new TreeCosigner(cluster.Keys[2], new() { [5] = root }));
        replicas[1].Peers.Cosigner = behind;
        replicas[2].Peers.Cosigner = signs;
        var own = SignedNote.Sign(new Checkpoint(cluster.Consortium.Origin, 5, root).Body(), [cluster.Keys[0]]);
        using var collector = new CosignatureCollector(replicas[0].Peers, NoHedge);

        // Two collections: whichever member is asked first, the checkpoint gets its quorum.
        for (var i = 0; i < 2; i++)
        {
            var (note, refusals) = await collector.CollectAsync(own, signaturesWanted: 2, CancellationToken.None);
            Assert.Equal(["member-a", "member-c"], note.Signatures.Select(s => s.Name));
            Assert.All(refusals, refusal => Assert.Equal("member-b: my tree does not have 5 leaves", refusal));
        }

        Assert.Equal(1, behind.Asked);
        Assert.Equal(2, signs.Asked);

        // A member that does not answer at all: the collection ends without it, while the call to
        // it still hangs, well before the call's deadline would have turned it into a refusal.
        var hanging = new TaskCompletionSource();
        replicas[1].Peers.Cosigner = new CountingCosigner(new TreeCosigner(cluster.Keys[1], new() { [5] = root })) { Gate = hanging.Task };
        using var hedged = new CosignatureCollector(replicas[0].Peers);
        for (var i = 0; i < 2; i++)
        {
            var (note, refusals) = await hedged.CollectAsync(own, signaturesWanted: 2, CancellationToken.None);
            Assert.Equal(["member-a", "member-c"], note.Signatures.Select(s => s.Name));
            Assert.Empty(refusals);
        }

        Assert.False(hanging.Task.IsCompleted);
        hanging.SetResult();
    }

    [Fact]
    public async Task Members_cosign_only_checkpoints_of_their_own_tree()
    {
        await using var cluster = await ReplicaCluster.StartAsync(3);
        var root = SHA256.HashData("tree of 5"u8);
        var other = SHA256.HashData("another tree of 5"u8);
        var replicas = cluster.Running.ToList();
        replicas[0].Peers.Cosigner = new TreeCosigner(cluster.Keys[0], new() { [5] = root });
        replicas[1].Peers.Cosigner = new TreeCosigner(cluster.Keys[1], new() { [5] = root });
        replicas[2].Peers.Cosigner = new TreeCosigner(cluster.Keys[2], new() { [5] = other });

        var checkpoint = new Checkpoint(cluster.Consortium.Origin, 5, root);
        var own = SignedNote.Sign(checkpoint.Body(), [cluster.Keys[0]]);
        using var collector = new CosignatureCollector(replicas[0].Peers);
        var (note, refusals) = await collector.CollectAsync(own, CancellationToken.None);

        Assert.Equal(["member-a", "member-b"], note.Signatures.Select(s => s.Name));
        Assert.Equal("member-c: my tree at size 5 has another root", Assert.Single(refusals));
        var verified = new CheckpointVerifier(cluster.Consortium).Verify(note.ToText());
        Assert.True(verified.IsValid, verified.Reason);

        var (larger, notYet) = await collector.CollectAsync(SignedNote.Sign(new Checkpoint(cluster.Consortium.Origin, 9, root).Body(), [cluster.Keys[0]]), CancellationToken.None);
        Assert.Single(larger.Signatures);
        Assert.All(notYet, r => Assert.Contains("does not have 9 leaves", r, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Cosign_refuses_other_ledgers_malformed_bodies_and_strangers()
    {
        await using var cluster = await ReplicaCluster.StartAsync(3);
        var target = cluster.Consortium.Members[1];
        using var channel = GrpcChannel.ForAddress(target.Address!);
        var client = new Peer.PeerClient(channel);
        Metadata Headers(SignerKey key) => new()
        {
            { PeerHandshake.HeaderName, PeerHandshake.CallerHeader(key, cluster.Consortium.Origin, target.Id, (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()).Header },
        };

        var foreign = new Checkpoint("ledger.test/other", 1, new byte[32]).Body();
        var wrongOrigin = await Assert.ThrowsAsync<RpcException>(async () =>
            await client.CosignAsync(new CosignRequest { CheckpointBody = foreign }, Headers(cluster.Keys[0])));
        Assert.Equal(StatusCode.InvalidArgument, wrongOrigin.StatusCode);

        var malformed = await Assert.ThrowsAsync<RpcException>(async () =>
            await client.CosignAsync(new CosignRequest { CheckpointBody = "nonsense" }, Headers(cluster.Keys[0])));
        Assert.Equal(StatusCode.InvalidArgument, malformed.StatusCode);

        var body = new Checkpoint(cluster.Consortium.Origin, 1, new byte[32]).Body();
        var stranger = await Assert.ThrowsAsync<RpcException>(async () =>
            await client.CosignAsync(new CosignRequest { CheckpointBody = body }, Headers(SignerKey.Generate("member-q"))));
        Assert.Equal(StatusCode.Unauthenticated, stranger.StatusCode);

        var starting = await client.CosignAsync(new CosignRequest { CheckpointBody = body }, Headers(cluster.Keys[0]));
        Assert.Equal(string.Empty, starting.SignatureLine);
        Assert.Equal("this member is still starting", starting.Refusal);
    }
}
