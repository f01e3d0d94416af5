using System.Security.Cryptography;
using Google.Protobuf;
using Grpc.Core;
using Ledger.Node.Tests.Support;
using Ledger.Sdk;
using Ledger.Sdk.Client;
using Ledger.Sdk.Merkle;
using Ledger.Sdk.Protos.V1;

namespace Ledger.Node.Tests;

/// <summary>The read side of the API and the SDK client, against a node on real Kestrel.</summary>
public sealed class ApiTests : IAsyncLifetime, IDisposable
{
    private InProcessNode _node = null!;
    private LedgerClient? _client;

    public async Task InitializeAsync()
    {
        _node = await InProcessNode.StartAsync();
        _client = new LedgerClient([new Uri(_node.Host.Address)]);
    }

    public async Task DisposeAsync() => await _node.DisposeAsync();

    public void Dispose() => _client?.Dispose();

    private static byte[][] FreshDigests(int count) => Enumerable.Range(0, count).Select(_ => RandomNumberGenerator.GetBytes(32)).ToArray();

    [Fact]
    public async Task Receipts_by_digest_and_issuer_verify_and_an_unknown_digest_is_not_found()
    {
        var digests = FreshDigests(5);
        var anchored = await _client!.AnchorAsync(_node.IssuerKey, digests, includeReceipts: false);
        var verifier = new ReceiptVerifier(_node.Consortium);
        var receipt = await _client!.GetReceiptAsync(digests[3], _node.IssuerKey.Name);
        Assert.NotNull(receipt);
        var verification = verifier.Verify(receipt, digests[3]);
        Assert.True(verification.IsValid, verification.Reason);
        Assert.Equal(anchored.LeafIndices[3], verification.Index);
        Assert.Null(await _client!.GetReceiptAsync(digests[3], "someone-else"));
        Assert.Null(await _client!.GetReceiptAsync(RandomNumberGenerator.GetBytes(32)));
        var wrongLength = await Assert.ThrowsAsync<RpcException>(async () =>
            await _node.Client.GetReceiptAsync(new GetReceiptRequest { Digest = ByteString.CopyFrom(new byte[5]) }));
        Assert.Equal(StatusCode.InvalidArgument, wrongLength.StatusCode);
    }

    [Fact]
    public async Task Batch_receipts_come_in_request_order_and_each_verifies()
    {
        var digests = FreshDigests(40);
        var anchored = await _client!.AnchorAsync(_node.IssuerKey, digests, includeReceipts: false);
        var stranger = RandomNumberGenerator.GetBytes(32);
        var asked = new[] { digests[7], stranger, digests[0], digests[39], digests[7] };
        var receipts = await _client!.GetReceiptsAsync(asked, _node.IssuerKey.Name);
        Assert.Equal(asked.Length, receipts.Count);
        Assert.Null(receipts[1]);
        var verifier = new ReceiptVerifier(_node.Consortium);
        foreach (var (position, digestIndex) in new[] { (0, 7), (2, 0), (3, 39), (4, 7) })
        {
            var result = verifier.Verify(receipts[position]!, digests[digestIndex]);
            Assert.True(result.IsValid, result.Reason);
            Assert.Equal(anchored.LeafIndices[digestIndex], result.Index);
        }

        Assert.All(await _client!.GetReceiptsAsync(asked, "someone-else"), Assert.Null);
    }

    [Fact]
    public async Task Batch_receipts_refuse_empty_oversized_and_malformed_requests()
    {
        var empty = await Assert.ThrowsAsync<RpcException>(async () => await _node.Client.GetReceiptsAsync(new GetReceiptsRequest()));
        Assert.Equal(StatusCode.InvalidArgument, empty.StatusCode);
        var tooMany = new GetReceiptsRequest();
        tooMany.Digests.AddRange(Enumerable.Range(0, 1_001).Select(_ => ByteString.CopyFrom(new byte[32])));
        var oversized = await Assert.ThrowsAsync<RpcException>(async () => await _node.Client.GetReceiptsAsync(tooMany));
        Assert.Equal(StatusCode.InvalidArgument, oversized.StatusCode);
        Assert.Contains("1 to 1000 receipts per call, not 1001", oversized.Status.Detail, StringComparison.Ordinal);
        var malformed = new GetReceiptsRequest();
        malformed.Digests.Add(ByteString.CopyFrom(new byte[32]));
        malformed.Digests.Add(ByteString.CopyFrom(new byte[31]));
        var shortDigest = await Assert.ThrowsAsync<RpcException>(async () => await _node.Client.GetReceiptsAsync(malformed));
        Assert.Equal(StatusCode.InvalidArgument, shortDigest.StatusCode);
        Assert.Contains("digest 1 has 31 bytes", shortDigest.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Consistency_proofs_link_checkpoints_and_bad_sizes_are_refused()
    {
        await _client!.AnchorAsync(_node.IssuerKey, FreshDigests(3), includeReceipts: true);
        var verifier = new CheckpointVerifier(_node.Consortium);
        var before = verifier.Verify(await _client!.GetCheckpointAsync()).Checkpoint!;
        await _client!.AnchorAsync(_node.IssuerKey, FreshDigests(7), includeReceipts: true);
        var after = verifier.Verify(await _client!.GetCheckpointAsync()).Checkpoint!;
        Assert.True(after.Size > before.Size);
        var proof = await _client!.GetConsistencyProofAsync(before.Size, after.Size);
        Assert.True(MerkleProof.VerifyConsistency(before.Size, after.Size, before.Root, after.Root, proof));

        foreach (var (oldSize, newSize) in new[] { (0UL, 1UL), (after.Size, before.Size), (1UL, after.Size + 100) })
        {
            var exception = await Assert.ThrowsAsync<RpcException>(() => _client!.GetConsistencyProofAsync(oldSize, newSize));
            Assert.Equal(StatusCode.InvalidArgument, exception.StatusCode);
        }
    }

    [Fact]
    public async Task Entries_return_the_leaf_bytes_and_bad_ranges_are_refused()
    {
        var digests = FreshDigests(4);
        var anchored = await _client!.AnchorAsync(_node.IssuerKey, digests, includeReceipts: false);
        var leaves = await _client!.GetEntriesAsync(anchored.LeafIndices[0], 4);
        Assert.Equal(4, leaves.Count);
        for (var i = 0; i < 4; i++)
        {
            Assert.True(Leaf.TryDecode(leaves[i], out var leaf, out var error), error);
            Assert.Equal(digests[i], leaf!.Digest);
            Assert.Equal(_node.IssuerKey.Name, leaf.Issuer);
        }

        foreach (var (start, count) in new[] { (0UL, 0UL), (0UL, 1001UL), (anchored.TreeSize, 1UL) })
        {
            var exception = await Assert.ThrowsAsync<RpcException>(() => _client!.GetEntriesAsync(start, count));
            Assert.Equal(StatusCode.InvalidArgument, exception.StatusCode);
        }
    }

    [Fact]
    public async Task Watching_checkpoints_yields_the_latest_then_each_new_one()
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var watch = _client!.WatchCheckpointsAsync(cancel.Token).GetAsyncEnumerator(cancel.Token);
        Assert.True(await watch.MoveNextAsync());
        var verifier = new CheckpointVerifier(_node.Consortium);
        var first = verifier.Verify(watch.Current).Checkpoint!;
        var anchored = await _client!.AnchorAsync(_node.IssuerKey, FreshDigests(2), includeReceipts: false);
        Checkpoint latest;
        do
        {
            Assert.True(await watch.MoveNextAsync());
            var verification = verifier.Verify(watch.Current);
            Assert.True(verification.IsValid, verification.Reason);
            latest = verification.Checkpoint!;
        }
        while (latest.Size < anchored.TreeSize);

        Assert.True(latest.Size > first.Size);
    }

    [Fact]
    public async Task Status_names_the_ledger_member_and_limits()
    {
        var status = await _client!.GetStatusAsync();
        Assert.Equal(_node.Origin, status.Origin);
        Assert.Equal(status.Member, status.Leader);
        Assert.Single(status.Members);
        Assert.Equal("leader", status.Members[0].Role);
        Assert.Equal(10_000u, status.MaxDigestsPerRequest);
    }

    [Fact]
    public async Task A_client_with_one_try_per_call_moves_past_a_dead_address_for_its_next_call()
    {
        // A port nothing listens on: bound, then released.
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var deadAddress = new Uri($"http://127.0.0.1:{((System.Net.IPEndPoint)listener.LocalEndpoint).Port}");
        listener.Stop();
        var oneTry = LedgerClientOptions.Default with { AttemptsMax = 1, CallTimeout = TimeSpan.FromSeconds(5) };
        using var client = new LedgerClient([deadAddress, new Uri(_node.Host.Address)], oneTry);

        var first = await Assert.ThrowsAsync<RpcException>(() => client.GetStatusAsync());
        Assert.Equal(StatusCode.Unavailable, first.StatusCode);
        var second = await client.GetStatusAsync();
        Assert.Equal(_node.Origin, second.Origin);
        Assert.Equal(_node.Origin, (await client.GetStatusAsync()).Origin);
    }
}
