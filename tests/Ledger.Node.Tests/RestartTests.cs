using System.Security.Cryptography;
using Grpc.Core;
using Ledger.Node.Tests.Support;
using Ledger.Sdk.Client;
using Ledger.Sdk.Protos.V1;

namespace Ledger.Node.Tests;

public sealed class RestartTests
{
    [Fact]
    public async Task Nonces_leaves_and_checkpoints_survive_a_restart()
    {
        var first = await InProcessNode.StartAsync();
        InProcessNode? second = null;
        try
        {
            var digests = Enumerable.Range(0, 3).Select(_ => RandomNumberGenerator.GetBytes(32)).ToArray();
            var request = LedgerClient.BuildAnchorRequest(first.Origin, first.IssuerKey, digests, includeReceipts: true);
            var anchored = await first.Client.AnchorAsync(request);
            var checkpointBefore = (await first.Client.GetCheckpointAsync(new GetCheckpointRequest())).Checkpoint;

            second = await first.RestartAsync();
            var replay = await Assert.ThrowsAsync<RpcException>(async () => await second.Client.AnchorAsync(request));
            Assert.Equal(StatusCode.AlreadyExists, replay.StatusCode);
            Assert.Equal(anchored.TreeSize, second.Host.Node.State.TreeSize);
            Assert.Equal(checkpointBefore, (await second.Client.GetCheckpointAsync(new GetCheckpointRequest())).Checkpoint);

            var receipt = await second.Client.GetReceiptAsync(new GetReceiptRequest { Digest = Google.Protobuf.ByteString.CopyFrom(digests[1]) });
            Assert.Equal(anchored.LeafIndices[1], receipt.LeafIndex);
            var again = await second.Client.AnchorAsync(LedgerClient.BuildAnchorRequest(second.Origin, second.IssuerKey, [digests[1], RandomNumberGenerator.GetBytes(32)], false));
            Assert.Equal([anchored.LeafIndices[1], anchored.TreeSize], again.LeafIndices);
            Assert.Equal([true, false], again.Existed);
        }
        finally
        {
            await (second ?? first).DisposeAsync();
        }
    }
}
