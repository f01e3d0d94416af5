using System.Security.Cryptography;
using Grpc.Core;
using Ledger.Node.Hosting;
using Ledger.Node.Tests.Support;
using Ledger.Sdk.Client;
using Ledger.Sdk.Protos.V1;
using Ledger.Storage;
using Ledger.TestKit;

namespace Ledger.Node.Tests;

/// <summary>
/// A bit flipped in the state store of a stopped one-member ledger. The node never answers from the
/// damaged block: the read answers DATA_LOSS, the node marks its data directory and stops, and since a
/// one-member ledger has no other copy, the next start refuses and tells the operator to restore a backup.
/// </summary>
public sealed class StoreDamageTests
{
    private const int Digests = 3_000;
    private const int PageLeaves = 500;
    private static readonly TimeSpan FoundWithin = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_read_that_meets_damage_answers_data_loss_marks_the_store_and_the_next_start_refuses()
    {
        var first = await InProcessNode.StartAsync("--scrub-interval-minutes", "0");
        InProcessNode node = first;
        try
        {
            await AnchorAsync(first);
            var treeSize = first.Host.Node.State.TreeSize;
            string flipped = "";
            node = await first.RestartAsync(dataDir => flipped = StoreFileDamage.FlipBitInLargestTableOf(Path.Combine(dataDir, StoreDamage.StateStore), "leaves", 0.5));

            // The leaves are read page by page until one page meets the damaged block.
            RpcException? dataLoss = null;
            for (ulong start = 0; start < treeSize && dataLoss is null; start += PageLeaves)
            {
                try
                {
                    var page = await node.Client.GetEntriesAsync(new GetEntriesRequest { Start = start, Count = PageLeaves });
                    Assert.Equal((int)Math.Min(PageLeaves, treeSize - start), page.Leaves.Count);
                }
                catch (RpcException exception)
                {
                    dataLoss = exception;
                }
            }

            Assert.True(dataLoss is not null, $"no read met the flipped bit at {flipped}");
            Assert.Equal(StatusCode.DataLoss, dataLoss.StatusCode);
            Assert.Contains("ask another member", dataLoss.Status.Detail, StringComparison.Ordinal);
            var found = await Assert.ThrowsAsync<StorageCorruptException>(() => node.Host.Node.Damage.Found.WaitAsync(FoundWithin));
            Assert.Contains("checksum", found.Message, StringComparison.OrdinalIgnoreCase);
            var mark = await File.ReadAllLinesAsync(Path.Combine(node.DataDir, StoreDamage.MarkName));
            Assert.Equal(StoreDamage.StateStore, mark[0]);

            // Nothing was written after the damage: the tree is as it was.
            Assert.Equal(treeSize, node.Host.Node.State.TreeSize);
            await node.StopAsync();
            var refused = await Assert.ThrowsAsync<NodeStartException>(node.StartAgainAsync);
            Assert.Contains("was found damaged", refused.Message, StringComparison.Ordinal);
            Assert.Contains("restore", refused.Message, StringComparison.Ordinal);
            Assert.True(File.Exists(Path.Combine(node.DataDir, StoreDamage.MarkName)), "the mark must stay until the operator acts");
            Assert.True(Directory.Exists(Path.Combine(node.DataDir, StoreDamage.StateStore)), "a one-member ledger must keep its only copy");
        }
        finally
        {
            await node.DisposeAsync();
        }
    }

    [Fact]
    public async Task The_scrub_at_start_finds_damage_no_read_has_met_yet()
    {
        var first = await InProcessNode.StartAsync();
        InProcessNode node = first;
        try
        {
            await AnchorAsync(first);
            node = await first.RestartAsync(dataDir => StoreFileDamage.FlipBitInLargestTable(Path.Combine(dataDir, StoreDamage.StateStore), 0.5));

            // No call is made: the scrub that runs right after start reads every block.
            var found = await Assert.ThrowsAsync<StorageCorruptException>(() => node.Host.Node.Damage.Found.WaitAsync(FoundWithin));
            Assert.Contains(Path.Combine(node.DataDir, StoreDamage.StateStore), found.Message, StringComparison.Ordinal);
            var health = await new Grpc.Health.V1.Health.HealthClient(node.Channel).CheckAsync(new Grpc.Health.V1.HealthCheckRequest());
            Assert.Equal(Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.NotServing, health.Status);
        }
        finally
        {
            await node.DisposeAsync();
        }
    }

    [Fact]
    public async Task An_undamaged_store_passes_the_scrub_at_start_and_keeps_serving()
    {
        var first = await InProcessNode.StartAsync();
        InProcessNode node = first;
        try
        {
            await AnchorAsync(first);
            node = await first.RestartAsync();
            await Task.Delay(TimeSpan.FromSeconds(2));
            Assert.False(node.Host.Node.Damage.Found.IsCompleted);
            var page = await node.Client.GetEntriesAsync(new GetEntriesRequest { Start = 0, Count = PageLeaves });
            Assert.Equal(PageLeaves, page.Leaves.Count);
            Assert.False(File.Exists(Path.Combine(node.DataDir, StoreDamage.MarkName)));
        }
        finally
        {
            await node.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_client_that_meets_data_loss_on_one_member_gets_its_receipts_from_another()
    {
        await using var consortium = await InProcessConsortium.StartAsync(3);
        var leader = await consortium.WaitForLeaderAsync(FoundWithin);
        var damaged = (leader + 1) % consortium.Count;
        var digests = new List<byte[]>();
        for (var i = 0; i < Digests / 1_000; i++)
        {
            var batch = Enumerable.Range(0, 1_000).Select(_ => RandomNumberGenerator.GetBytes(32)).ToArray();
            await consortium.Client(leader).AnchorAsync(LedgerClient.BuildAnchorRequest(consortium.Consortium.Origin, consortium.Issuer, batch, includeReceipts: false));
            digests.AddRange(batch);
        }

        while (consortium.Host(damaged).Node.State.TreeSize < Digests)
        {
            await Task.Delay(20);
        }

        await consortium.StopAsync(damaged);
        StoreFileDamage.FlipBitInLargestTable(Path.Combine(consortium.DataDir(damaged), StoreDamage.StateStore), 0.5);
        await consortium.StartAsync(damaged, wipeData: false, "--scrub-interval-minutes", "0");

        // The damaged member first: its answer is DATA_LOSS for the pages that meet the damage, and the client moves on.
        using var client = new LedgerClient(
            [new Uri(consortium.Consortium.Members[damaged].Address!), new Uri(consortium.Consortium.Members[leader].Address!)],
            new LedgerClientOptions(TimeSpan.FromSeconds(10), AttemptsMax: 2, RetryDelay: TimeSpan.FromMilliseconds(10)));
        var verifier = new Sdk.ReceiptVerifier(consortium.Consortium);
        var receipts = new List<string?>();
        foreach (var page in digests.Chunk(100))
        {
            receipts.AddRange(await client.GetReceiptsAsync(page, consortium.Issuer.Name));
        }

        await Assert.ThrowsAsync<StorageCorruptException>(() => consortium.Host(damaged).Node.Damage.Found.WaitAsync(FoundWithin));
        Assert.Equal(Digests, receipts.Count);
        for (var i = 0; i < Digests; i++)
        {
            var verification = verifier.Verify(receipts[i] ?? throw new InvalidOperationException($"no receipt for digest {i}"), digests[i]);
            Assert.True(verification.IsValid, verification.Reason);
        }
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("10081")]
    public void A_scrub_interval_out_of_range_is_refused(string minutes)
    {
        var options = new NodeOptions { ScrubIntervalMinutes = int.Parse(minutes, System.Globalization.CultureInfo.InvariantCulture) };
        Assert.Equal("Ledger:ScrubIntervalMinutes (--scrub-interval-minutes) must be between 0 (off) and 10080 (a week)", options.Validate());
    }

    private static async Task AnchorAsync(InProcessNode node)
    {
        for (var i = 0; i < Digests / 1_000; i++)
        {
            var digests = Enumerable.Range(0, 1_000).Select(_ => RandomNumberGenerator.GetBytes(32)).ToArray();
            await node.Client.AnchorAsync(LedgerClient.BuildAnchorRequest(node.Origin, node.IssuerKey, digests, includeReceipts: false));
        }
    }
}
