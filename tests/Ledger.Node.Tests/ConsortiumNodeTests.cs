using System.Security.Cryptography;
using Google.Protobuf;
using Grpc.Core;
using Ledger.Replication;
using Ledger.Node.Api;
using Ledger.Node.Hosting;
using Ledger.Node.Sequencing;
using Ledger.Node.Tests.Support;
using Ledger.Sdk;
using Ledger.Sdk.Client;
using Ledger.Sdk.Protos.V1;

namespace Ledger.Node.Tests;

/// <summary>Three members of one consortium in this process: forwarding, cosigned checkpoints, linearizable reads, status.</summary>
public sealed class ConsortiumNodeTests
{
    private static readonly TimeSpan LeaderWait = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan CallDeadline = TimeSpan.FromSeconds(20);

    private static byte[] Digest() => RandomNumberGenerator.GetBytes(32);

    private static DateTime Deadline() => DateTime.UtcNow + CallDeadline;

    [Fact]
    public async Task An_anchor_sent_to_a_follower_is_forwarded_and_its_receipts_carry_a_quorum_from_that_follower()
    {
        await using var consortium = await InProcessConsortium.StartAsync(3);
        var digests = new[] { Digest(), Digest(), Digest() };

        // With 20 ms ticks, a loaded machine can move leadership between the wait and the call; the
        // follower then says so (UNAVAILABLE) and the anchor is sent again through a follower.
        AnchorResponse? response = null;
        var follower = 0;
        for (var attempt = 1; response is null; attempt++)
        {
            follower = (await consortium.WaitForLeaderAsync(LeaderWait) + 1) % 3;
            try
            {
                response = await consortium.Client(follower).AnchorAsync(consortium.Anchor(digests), deadline: Deadline());
            }
            catch (RpcException exception) when (exception.StatusCode == StatusCode.Unavailable && attempt < 3)
            {
            }
        }

        Assert.Equal(3, response.Receipts.Count);
        Assert.True(consortium.Host(follower).Node.State.TreeSize >= response.TreeSize);
        var verifier = new ReceiptVerifier(consortium.Consortium);
        for (var i = 0; i < digests.Length; i++)
        {
            var verified = verifier.Verify(response.Receipts[i], digests[i]);
            Assert.True(verified.IsValid, verified.Reason);
            Assert.True(Receipt.TryParse(response.Receipts[i], out var receipt, out _));
            var signers = verifier.Checkpoints.Verify(receipt!.CheckpointNote).Signers;
            Assert.True(signers.Count >= consortium.Consortium.Quorum, string.Join(",", signers));
        }

        // The same digests again, through the leader this time: the existing leaves, nothing appended.
        var leader = await consortium.WaitForLeaderAsync(LeaderWait);
        var again = await consortium.Client(leader).AnchorAsync(consortium.Anchor(digests), deadline: Deadline());
        Assert.Equal(response.LeafIndices, again.LeafIndices);
        Assert.All(again.Existed, Assert.True);
    }

    [Fact]
    public async Task A_member_with_no_quorum_signed_checkpoint_says_so_and_serves_one_once_a_quorum_answers()
    {
        await using var consortium = await InProcessConsortium.StartAsync(3);
        await consortium.WaitForLeaderAsync(LeaderWait);
        for (var member = 0; member < 3; member++)
        {
            await consortium.StopAsync(member);
        }

        // Alone and without its archive, member 0 cannot gather a quorum for a checkpoint.
        File.Delete(Path.Combine(consortium.DataDir(0), Hosting.LedgerNode.ArchiveName));
        await consortium.StartAsync(0);
        var none = await Assert.ThrowsAsync<RpcException>(async () => await consortium.Client(0).GetCheckpointAsync(new GetCheckpointRequest(), deadline: Deadline()));
        Assert.Equal(StatusCode.Unavailable, none.StatusCode);
        Assert.Contains("no checkpoint signed by a quorum of 2 members yet", none.Status.Detail, StringComparison.Ordinal);

        // A watch waits for the first checkpoint instead of sending an empty one.
        using var watch = consortium.Client(0).WatchCheckpoints(new WatchCheckpointsRequest(), deadline: Deadline());
        var first = watch.ResponseStream.MoveNext();
        await consortium.StartAsync(1);
        Assert.True(await first, "the watch ended without a checkpoint");
        var verifier = new CheckpointVerifier(consortium.Consortium);
        var watched = verifier.Verify(watch.ResponseStream.Current.Checkpoint);
        Assert.True(watched.IsValid, watched.Reason);
        var served = verifier.Verify((await consortium.Client(0).GetCheckpointAsync(new GetCheckpointRequest(), deadline: Deadline())).Checkpoint);
        Assert.True(served.IsValid, served.Reason);
        Assert.True(served.Signers.Count >= 2);
    }

    [Fact]
    public async Task A_forwarded_anchor_is_never_forwarded_again_and_writes_nothing()
    {
        await using var consortium = await InProcessConsortium.StartAsync(3);
        int leader, follower;
        ulong sizeBefore;
        RpcException? refused = null;
        for (var attempt = 1; ; attempt++)
        {
            leader = await consortium.WaitForLeaderAsync(LeaderWait);
            follower = (leader + 1) % 3;
            sizeBefore = consortium.Host(leader).Node.State.TreeSize;
            try
            {
                await consortium.Client(follower).AnchorAsync(
                    consortium.Anchor(Digest()), new Metadata { { LedgerApiService.ForwardedHeader, "member-x" } }, Deadline());
            }
            catch (RpcException exception)
            {
                refused = exception;
                break;
            }

            // Accepted: only right if leadership moved to that member in between (a starved machine).
            Assert.True(consortium.Host(follower).Node.Replica!.IsLeader && attempt < 3, "a follower accepted a forwarded anchor");
        }

        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Contains("is not the leader", refused.Status.Detail, StringComparison.Ordinal);
        await Task.Delay(200);
        Assert.Equal(sizeBefore, consortium.Host(leader).Node.State.TreeSize);
    }

    [Fact]
    public async Task Every_member_applies_the_same_tree_and_serves_checkpoints_signed_by_a_quorum()
    {
        await using var consortium = await InProcessConsortium.StartAsync(3);
        await consortium.WaitForLeaderAsync(LeaderWait);
        AnchorResponse? last = null;
        for (var i = 0; i < 5; i++)
        {
            var digests = new[] { Digest(), Digest() };
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    last = await consortium.Client(i % 3).AnchorAsync(consortium.Anchor(digests), deadline: Deadline());
                    break;
                }
                catch (RpcException exception) when (exception.StatusCode == StatusCode.Unavailable && attempt < 3)
                {
                    // Leadership moved while the batch was in flight; the same digests again keep their leaves if they committed.
                }
            }
        }

        var size = last!.TreeSize;
        Assert.Equal(10UL, size);
        var answered = 4 % 3; // the member that answered the last anchor has applied it
        var verifier = new CheckpointVerifier(consortium.Consortium);
        for (var member = 0; member < 3; member++)
        {
            var node = consortium.Host(member).Node;
            await node.WaitForTreeSizeAsync(size, new CancellationTokenSource(CallDeadline).Token);
            Assert.Equal(consortium.Host(answered).Node.State.RootAt(size), node.State.RootAt(size));
            var checkpoint = await node.Signer.WaitForSizeAsync(size, new CancellationTokenSource(CallDeadline).Token);
            var verified = verifier.Verify(checkpoint.Text);
            Assert.True(verified.IsValid, verified.Reason);
        }
    }

    private static AnchorEntry EntryOf(AnchorRequest request) => new(
        request.Issuer, request.IssuedAtMs, request.Nonce.ToByteArray(), request.Digests.Select(d => d.ToByteArray()).ToArray(), request.Signature.ToByteArray());

    [Fact]
    public async Task A_submission_its_issuer_did_not_sign_is_left_out_on_every_member_even_when_the_leader_proposes_it()
    {
        await using var consortium = await InProcessConsortium.StartAsync(3);
        var before = await consortium.Client(await consortium.WaitForLeaderAsync(LeaderWait)).AnchorAsync(consortium.Anchor(Digest()), deadline: Deadline());

        // What a member that leads could propose without any issuer asking: a genuine submission, the
        // same signature over other digests, and a submission with its signature taken off. The batch
        // goes straight to Raft, past admission, as a leader's own code would send it.
        var genuine = EntryOf(consortium.Anchor(Digest(), Digest()));
        var forged = genuine with { Digests = [Digest()] };
        var unsigned = EntryOf(consortium.Anchor(Digest())) with { Signature = null };

        // An issuer the file does not name is applied unverified on every member alike (it may be
        // one a newer file already has): a verifier sees that name in the receipt.
        var stranger = SignerKey.Generate("issuer-z");
        var unknown = EntryOf(Sdk.Client.LedgerClient.BuildAnchorRequest(consortium.Consortium.Origin, stranger, [Digest()], includeReceipts: false));
        var batch = new Batch((ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), [forged, genuine, unsigned, unknown]);
        ulong index = 0;
        for (var attempt = 1; index == 0; attempt++)
        {
            var leader = await consortium.WaitForLeaderAsync(LeaderWait);
            try
            {
                index = await consortium.Host(leader).Node.Replica!.Host.ProposeAsync(BatchCodec.Encode(batch), new CancellationTokenSource(CallDeadline).Token);
            }
            catch (NotLeaderException) when (attempt < 3)
            {
            }
        }

        var size = before.TreeSize + 3;
        var roots = new List<byte[]>();
        for (var member = 0; member < 3; member++)
        {
            var node = consortium.Host(member).Node;
            await node.WaitForTreeSizeAsync(size, new CancellationTokenSource(CallDeadline).Token);
            for (var waited = System.Diagnostics.Stopwatch.StartNew(); node.AppliedLogIndex < index && waited.Elapsed < CallDeadline;)
            {
                await Task.Delay(20);
            }

            Assert.True(node.AppliedLogIndex >= index, $"member {member} applied {node.AppliedLogIndex}, not {index}");
            Assert.Equal(size, node.State.TreeSize);
            roots.Add(node.State.RootAt(size));
            foreach (var digest in forged.Digests.Concat(unsigned.Digests))
            {
                var missing = await Assert.ThrowsAsync<RpcException>(async () => await consortium.Client(member).GetReceiptAsync(
                    new GetReceiptRequest { Digest = ByteString.CopyFrom(digest) }, deadline: Deadline()));
                Assert.Equal(StatusCode.NotFound, missing.StatusCode);
            }
        }

        Assert.All(roots, root => Assert.Equal(roots[0], root));
        var receipt = await consortium.Client(0).GetReceiptAsync(
            new GetReceiptRequest { Digest = ByteString.CopyFrom(genuine.Digests[1]), Linearizable = true }, deadline: Deadline());
        Assert.True(new ReceiptVerifier(consortium.Consortium).Verify(receipt.Receipt, genuine.Digests[1]).IsValid);
    }

    [Fact]
    public async Task A_linearizable_receipt_read_on_a_follower_sees_an_anchor_acknowledged_by_the_leader()
    {
        await using var consortium = await InProcessConsortium.StartAsync(3);
        var leader = await consortium.WaitForLeaderAsync(LeaderWait);
        var follower = (leader + 2) % 3;

        // A read point comes from whoever leads; UNAVAILABLE (leadership moving on a starved machine,
        // or no checkpoint of that size signed yet) is what a client retries, as the SDK does.
        async Task<GetReceiptResponse> ReadAsync(byte[] digest)
        {
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    return await consortium.Client(follower).GetReceiptAsync(
                        new GetReceiptRequest { Digest = ByteString.CopyFrom(digest), Linearizable = true }, deadline: Deadline());
                }
                catch (RpcException exception) when (exception.StatusCode == StatusCode.Unavailable && attempt < 5)
                {
                    await Task.Delay(200);
                }
            }
        }

        // Before any anchor the leader's read point is its own empty entry, which a follower applies without a batch.
        var missing = await Assert.ThrowsAsync<RpcException>(() => ReadAsync(Digest()));
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
        for (var round = 0; round < 5; round++)
        {
            var digest = Digest();
            await consortium.Client(leader).AnchorAsync(consortium.Anchor(digest), deadline: Deadline());
            var receipt = await ReadAsync(digest);
            Assert.True(new ReceiptVerifier(consortium.Consortium).Verify(receipt.Receipt, digest).IsValid);
        }
    }

    [Fact]
    public async Task Status_lists_every_member_with_one_leader_and_marks_a_stopped_member_unreachable()
    {
        await using var consortium = await InProcessConsortium.StartAsync(3);
        var leader = await consortium.WaitForLeaderAsync(LeaderWait);
        var anchored = await consortium.Client(leader).AnchorAsync(consortium.Anchor(Digest()), deadline: Deadline());
        var follower = (leader + 1) % 3;
        // The anchor is acknowledged once a majority holds it; the third member learns of it with the next append.
        for (var member = 0; member < 3; member++)
        {
            await consortium.Host(member).Node.WaitForTreeSizeAsync(anchored.TreeSize, new CancellationTokenSource(CallDeadline).Token);
        }

        var status = await consortium.Client(follower).GetStatusAsync(new GetStatusRequest(), deadline: Deadline());
        Assert.Equal(consortium.Consortium.Members[leader].Id, status.Leader);
        Assert.Equal(consortium.Consortium.Members.Select(m => m.Id), status.Members.Select(m => m.Id));
        Assert.Single(status.Members, m => m.Role == "leader");
        Assert.All(status.Members, m => Assert.True(m.Term >= 1 && m.CommitIndex >= 1, m.ToString()));

        var local = await consortium.Client(follower).GetStatusAsync(new GetStatusRequest { LocalOnly = true }, deadline: Deadline());
        Assert.Equal(consortium.Consortium.Members[follower].Id, Assert.Single(local.Members).Id);

        var stopped = (leader + 2) % 3;
        await consortium.StopAsync(stopped);
        var after = await consortium.Client(follower).GetStatusAsync(new GetStatusRequest(), deadline: Deadline());
        Assert.Equal("unreachable", after.Members[stopped].Role);
        Assert.Equal(2, after.Members.Count(m => m.Role is "leader" or "follower"));
    }

    [Fact]
    public async Task Two_members_keep_anchoring_when_the_third_stops()
    {
        await using var consortium = await InProcessConsortium.StartAsync(3);
        var leader = await consortium.WaitForLeaderAsync(LeaderWait);
        var stopped = (leader + 1) % 3;
        await consortium.StopAsync(stopped);

        var digest = Digest();
        var response = await consortium.Client(leader).AnchorAsync(consortium.Anchor(digest), deadline: Deadline());

        var verified = new ReceiptVerifier(consortium.Consortium).Verify(Assert.Single(response.Receipts), digest);
        Assert.True(verified.IsValid, verified.Reason);
    }

    [Fact]
    public async Task A_consortium_stopped_and_started_as_a_whole_serves_the_same_tree_and_keeps_anchoring()
    {
        await using var consortium = await InProcessConsortium.StartAsync(3);
        var leader = await consortium.WaitForLeaderAsync(LeaderWait);
        var first = Digest();
        await consortium.Client(leader).AnchorAsync(consortium.Anchor(first, Digest()), deadline: Deadline());
        var root = consortium.Host(leader).Node.State.RootAt(2);

        // Acknowledged once a majority holds it: each member is stopped only once it applied it too,
        // so that every one restarts from its own disk with the whole tree.
        for (var member = 0; member < 3; member++)
        {
            await consortium.Host(member).Node.WaitForTreeSizeAsync(2, new CancellationTokenSource(CallDeadline).Token);
        }

        for (var member = 0; member < 3; member++)
        {
            await consortium.StopAsync(member);
        }

        await Task.WhenAll(Enumerable.Range(0, 3).Select(member => consortium.StartAsync(member)));
        leader = await consortium.WaitForLeaderAsync(LeaderWait);
        Assert.All(Enumerable.Range(0, 3), member => Assert.Equal(root, consortium.Host(member).Node.State.RootAt(2)));
        var again = await consortium.Client((leader + 1) % 3).AnchorAsync(consortium.Anchor(first, Digest()), deadline: Deadline());
        Assert.Equal([true, false], again.Existed);
        Assert.Equal(3UL, again.TreeSize);
    }

    [Fact]
    public async Task A_client_sent_through_a_follower_learns_the_leader_and_anchors_there_next()
    {
        await using var consortium = await InProcessConsortium.StartAsync(3);
        var leader = await consortium.WaitForLeaderAsync(LeaderWait);
        var follower = (leader + 1) % 3;
        var address = (int member) => new Uri(consortium.Consortium.Members[member].Address!);
        var oneTry = new LedgerClientOptions(CallDeadline, 1, TimeSpan.FromMilliseconds(50));
        using var client = new LedgerClient([address(follower), address(leader)], oneTry);
        using var unaware = new LedgerClient([address(follower)], oneTry);

        var first = await client.AnchorAsync(consortium.Issuer, [Digest()], includeReceipts: false);
        Assert.Single(first.LeafIndices);
        if (consortium.Host(follower).Node.Replica!.IsLeader || !consortium.Host(leader).Node.Replica!.IsLeader)
        {
            return; // leadership moved meanwhile: nothing was forwarded, or forwarded elsewhere
        }

        Assert.Equal(address(leader), client.CurrentAddress);

        // The follower is gone: a client that learned the leader anchors at the first try; a
        // client that was never given the leader's address stays where it was told to go.
        await unaware.AnchorAsync(consortium.Issuer, [Digest()], includeReceipts: false);
        Assert.Equal(address(follower), unaware.CurrentAddress);
        await consortium.StopAsync(follower);
        var digest = Digest();
        var second = await client.AnchorAsync(consortium.Issuer, [digest], includeReceipts: false);
        Assert.Equal(address(leader), client.CurrentAddress);
        Assert.NotNull(await client.GetReceiptAsync(digest));
        Assert.Equal(first.TreeSize + 2, second.TreeSize);
        await Assert.ThrowsAsync<RpcException>(() => unaware.AnchorAsync(consortium.Issuer, [Digest()], includeReceipts: false));
    }

    [Fact]
    public async Task A_member_replaced_with_an_empty_disk_rebuilds_the_tree_from_its_peers()
    {
        await using var consortium = await InProcessConsortium.StartAsync(3);
        var leader = await consortium.WaitForLeaderAsync(LeaderWait);
        for (var i = 0; i < 20; i++)
        {
            await consortium.Client(leader).AnchorAsync(consortium.Anchor(Digest(), Digest(), Digest()), deadline: Deadline());
        }

        var replaced = (leader + 1) % 3;
        await consortium.StopAsync(replaced);
        await consortium.StartAsync(replaced, wipeData: true);

        var node = consortium.Host(replaced).Node;
        try
        {
            await node.WaitForTreeSizeAsync(60, new CancellationTokenSource(CallDeadline).Token);
        }
        catch (OperationCanceledException)
        {
            var all = await consortium.Client(leader).GetStatusAsync(new GetStatusRequest(), deadline: Deadline());
            Assert.Fail(all.ToString() + " replaced raft: " + node.Replica!.Host.Status);
        }
        var survivor = consortium.Host(consortium.Index(node.Replica!.LeaderName ?? consortium.Consortium.Members[leader].Id)).Node;
        Assert.Equal(survivor.State.RootAt(60), node.State.RootAt(60));
        var checkpoint = await node.Signer.WaitForSizeAsync(60, new CancellationTokenSource(CallDeadline).Token);
        Assert.True(new CheckpointVerifier(consortium.Consortium).Verify(checkpoint.Text).IsValid);
    }

    [Fact]
    public async Task A_replaced_member_does_not_elect_a_member_that_lacks_what_it_helped_commit()
    {
        await using var consortium = await InProcessConsortium.StartAsync(3);
        var leader = await consortium.WaitForLeaderAsync(LeaderWait);
        var holder = leader;
        var replaced = (leader + 1) % 3;
        var lagging = (leader + 2) % 3;
        // A new consortium's members hold their votes until each has heard the others; a member stopped
        // before that would still hold on its return, which is not the case under test.
        using (var released = new CancellationTokenSource(CallDeadline))
        {
            while (Enumerable.Range(0, 3).Any(member => consortium.Host(member).Node.Replica!.Host.Status.VotesHeld))
            {
                await Task.Delay(50, released.Token);
            }
        }

        await consortium.StopAsync(lagging);
        var committed = Digest();
        // Committed by the holder and the member about to be replaced (the third is down).
        await consortium.Client(holder).AnchorAsync(consortium.Anchor(committed), deadline: Deadline());

        // Only the replaced member (empty disk) and the one that never saw the anchor are up.
        await consortium.StopAsync(holder);
        await consortium.StopAsync(replaced);
        await consortium.StartAsync(replaced, wipeData: true);
        await consortium.StartAsync(lagging);
        Assert.True(consortium.Host(replaced).Node.Replica!.Host.Status.VotesHeld);
        await Task.Delay(LeaderWait / 4);
        foreach (var member in new[] { replaced, lagging })
        {
            var status = consortium.Host(member).Node.Replica!.Host.Status;
            Assert.True(status.LeaderId == 0, $"member {member} follows {status.LeaderId}: a leader was elected without the committed anchor");
        }

        Assert.True(consortium.Host(replaced).Node.Replica!.Host.Status.VotesHeld);
        var rows = (await consortium.Client(lagging).GetStatusAsync(new GetStatusRequest(), deadline: Deadline())).Members;
        Assert.Equal([consortium.Consortium.Members[replaced].Id], rows.Where(row => row.VotesHeld).Select(row => row.Id));

        // The member holding the anchor returns: it leads, and the replaced member votes again once it holds its commit.
        await consortium.StartAsync(holder);
        try
        {
            leader = await consortium.WaitForLeaderAsync(LeaderWait);
        }
        catch (TimeoutException)
        {
            Assert.Fail(string.Join("\n", new[] { holder, replaced, lagging }.Select(m => $"{m}: {consortium.Host(m).Node.Replica!.Host.Status}")));
        }
        Assert.Equal(holder, leader);
        var node = consortium.Host(replaced).Node;
        using var wait = new CancellationTokenSource(CallDeadline);
        while (node.Replica!.Host.Status.VotesHeld)
        {
            await Task.Delay(50, wait.Token);
        }

        var receipt = await consortium.Client(replaced).GetReceiptAsync(
            new GetReceiptRequest { Digest = ByteString.CopyFrom(committed), Linearizable = true }, deadline: Deadline());
        Assert.True(new ReceiptVerifier(consortium.Consortium).Verify(receipt.Receipt, committed).IsValid);

        // Released for good: a later restart of the same disk does not hold again.
        await consortium.StopAsync(replaced);
        await consortium.StartAsync(replaced);
        Assert.False(consortium.Host(replaced).Node.Replica!.Host.Status.VotesHeld);
    }

    [Theory]
    [InlineData(null, "has no address", "http://127.0.0.1:7401")]
    [InlineData("http://10.9.8.7:7400", "must use https://", "http://127.0.0.1:7401")]
    [InlineData(null, "needs a fixed --listen port", "http://127.0.0.1:0", "--discovery-interfaces", "lo")]
    public void A_consortium_file_with_a_member_the_others_cannot_reach_safely_is_refused_at_start(string? thirdAddress, string messagePart, string listen, params string[] more)
    {
        using var dir = new Ledger.TestKit.TempDirectory("ledger-node-tests");
        var keys = new[] { SignerKey.Generate("member-a"), SignerKey.Generate("member-b"), SignerKey.Generate("member-c") };
        var consortium = new Consortium("test.ledger/refused", 2,
        [
            new ConsortiumMember("member-a", keys[0].Verifier, "http://127.0.0.1:7401"),
            new ConsortiumMember("member-b", keys[1].Verifier, "http://127.0.0.1:7402"),
            new ConsortiumMember("member-c", keys[2].Verifier, thirdAddress),
        ], []);
        var consortiumPath = Path.Combine(dir.Path, "consortium.json");
        File.WriteAllText(consortiumPath, consortium.ToJson());
        var keyPath = Path.Combine(dir.Path, "member-a.key");
        keys[0].Save(keyPath);
        var dataDir = Path.Combine(dir.Path, "data");

        var exception = Assert.Throws<Ledger.Node.Hosting.NodeStartException>(() => Ledger.Node.Hosting.NodeProgram.Build(
            ["--data-dir", dataDir, "--consortium", consortiumPath, "--member-key", keyPath, "--listen", listen, .. more]));

        Assert.Contains(messagePart, exception.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(dataDir, "raft")));
    }

    [Fact]
    public async Task A_member_refuses_to_start_when_the_consortium_file_names_other_members_than_its_log_began_with()
    {
        await using var consortium = await InProcessConsortium.StartAsync(3);
        await consortium.WaitForLeaderAsync(LeaderWait);
        await consortium.StopAsync(2);
        var changed = new Consortium(consortium.Consortium.Origin, 2,
            [.. consortium.Consortium.Members.Take(2), new ConsortiumMember("member-z", SignerKey.Generate("member-z").Verifier, "http://127.0.0.1:7409")],
            consortium.Consortium.Issuers);
        var arguments = consortium.Arguments(0);
        var changedPath = consortium.ConsortiumPath + ".changed";
        await File.WriteAllTextAsync(changedPath, changed.ToJson());
        arguments[Array.IndexOf(arguments, "--consortium") + 1] = changedPath;
        await consortium.StopAsync(0);

        var refused = await Assert.ThrowsAsync<Ledger.Node.Hosting.NodeStartException>(() => Ledger.Node.Hosting.NodeHost.StartAsync(arguments, TextWriter.Null));

        Assert.Contains("changing who is a member is not supported", refused.Message, StringComparison.Ordinal);
        Assert.Contains("member-a,member-b,member-c", refused.Message, StringComparison.Ordinal);

        // The refused start closed what it opened: the same member starts from its own file at once.
        await consortium.StartAsync(0);
        Assert.Equal(consortium.Consortium.Members[0].Id, consortium.Host(0).Node.MemberKey.Name);
    }

    [Fact]
    public async Task A_member_refuses_to_start_when_an_issuer_s_key_changed_in_place_and_takes_a_new_issuer()
    {
        await using var consortium = await InProcessConsortium.StartAsync(3);
        await consortium.WaitForLeaderAsync(LeaderWait);
        var arguments = consortium.Arguments(0);
        var original = consortium.Consortium;
        async Task<string> WriteAsync(string name, IReadOnlyList<ConsortiumIssuer> issuers)
        {
            var path = consortium.ConsortiumPath + "." + name;
            await File.WriteAllTextAsync(path, new Consortium(original.Origin, original.Quorum, original.Members, issuers).ToJson());
            return path;
        }

        var issuer = original.Issuers[0];
        var rekeyed = await WriteAsync("rekeyed", [issuer with { Key = SignerKey.Generate(issuer.Id).Verifier }, .. original.Issuers.Skip(1)]);
        var added = await WriteAsync("added", [.. original.Issuers, new ConsortiumIssuer("issuer-new", SignerKey.Generate("issuer-new").Verifier, null)]);
        var dropped = await WriteAsync("dropped", [.. original.Issuers.Skip(1)]);
        var newRekeyed = await WriteAsync("new-rekeyed", [.. original.Issuers, new ConsortiumIssuer("issuer-new", SignerKey.Generate("issuer-new").Verifier, null)]);
        await consortium.StopAsync(0);

        async Task<NodeHost> StartWithAsync(string path)
        {
            arguments[Array.IndexOf(arguments, "--consortium") + 1] = path;
            return await NodeHost.StartAsync(arguments, TextWriter.Null);
        }

        var refused = await Assert.ThrowsAsync<NodeStartException>(() => StartWithAsync(rekeyed));
        Assert.Contains($"gives issuer '{issuer.Id}' a key other than the one this member has known it by", refused.Message, StringComparison.Ordinal);

        // A new issuer is taken (and recorded); an issuer left out and then brought back with another key is refused.
        await (await StartWithAsync(added)).DisposeAsync();
        await (await StartWithAsync(dropped)).DisposeAsync();
        refused = await Assert.ThrowsAsync<NodeStartException>(() => StartWithAsync(rekeyed));
        Assert.Contains("is never replaced in place", refused.Message, StringComparison.Ordinal);
        refused = await Assert.ThrowsAsync<NodeStartException>(() => StartWithAsync(newRekeyed));
        Assert.Contains("gives issuer 'issuer-new' a key other than", refused.Message, StringComparison.Ordinal);

        // The refused starts closed what they opened: the member starts from the consortium's file at once.
        await consortium.StartAsync(0);
        Assert.Equal(original.Members[0].Id, consortium.Host(0).Node.MemberKey.Name);
    }
}
