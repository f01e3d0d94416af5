using System.Security.Cryptography;
using Grpc.Core;
using Ledger.Node.Tests.Support;
using Ledger.Sdk.Client;
using Ledger.Sdk.Protos.V1;

namespace Ledger.Node.Tests;

public sealed class QueueLimitTests
{
    [Fact]
    public async Task A_full_queue_is_refused_as_resource_exhausted_and_the_queued_request_still_lands()
    {
        // The batcher lingers three seconds before each cut, so the first request holds the whole queue meanwhile.
        await using var node = await InProcessNode.StartAsync(
            "--digests-per-request-max", "50", "--queue-digests-max", "50", "--batch-digests-max", "50", "--batch-linger-ms", "3000");
        var first = LedgerClient.BuildAnchorRequest(node.Origin, node.IssuerKey, Enumerable.Range(0, 50).Select(_ => RandomNumberGenerator.GetBytes(32)).ToArray(), false);
        var queued = node.Client.AnchorAsync(first).ResponseAsync;
        while (node.Host.Node.Batcher.QueuedDigests < 50)
        {
            await Task.Delay(5);
        }

        var overflowDigest = RandomNumberGenerator.GetBytes(32);
        var overflow = LedgerClient.BuildAnchorRequest(node.Origin, node.IssuerKey, [overflowDigest], false);
        var refused = await Assert.ThrowsAsync<RpcException>(async () => await node.Client.AnchorAsync(overflow));
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.Contains("queue is full", refused.Status.Detail, StringComparison.Ordinal);

        var landed = await queued;
        Assert.Equal(50, landed.LeafIndices.Count);
        var missing = await Assert.ThrowsAsync<RpcException>(async () =>
            await node.Client.GetReceiptAsync(new GetReceiptRequest { Digest = Google.Protobuf.ByteString.CopyFrom(overflowDigest) }));
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);

        var retried = await node.Client.AnchorAsync(overflow);
        Assert.Single(retried.LeafIndices);
    }
}
