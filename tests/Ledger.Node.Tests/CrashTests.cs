using Ledger.TestKit;
using Ledger.Node.Tests.Support;
using Ledger.Sdk;
using Ledger.Sdk.Client;
using Ledger.Sdk.Merkle;
using Ledger.Storage;

namespace Ledger.Node.Tests;

/// <summary>
/// kill -9 of the node while <c>ledger bench</c> anchors, then a restart: every acknowledged digest
/// has a valid receipt, the log holds whole batches only, and every checkpoint signed before the
/// crash is consistent with the ones signed after it.
/// </summary>
public sealed class CrashTests
{
    private const int AcknowledgedBeforeCrashMin = 2_000;
    private static readonly TimeSpan StepTimeout = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task Acknowledged_digests_survive_kill_9_and_history_stays_consistent()
    {
        using var dir = new TempDirectory("ledger-node-tests");
        var dataDir = Path.Combine(dir.Path, "data");
        string[] nodeArgs = ["--data-dir", dataDir, "--listen", "http://127.0.0.1:0"];
        var before = new List<string>();
        string issuerKey;
        string acks = Path.Combine(dir.Path, "acks.txt");
        using (var node = RunningProgram.Start(RepoPaths.NodeDll, nodeArgs, dir.Path))
        {
            var address = await node.WaitForAddressAsync(StepTimeout);
            issuerKey = Path.Combine(dataDir, "dev-issuer.key");
            using var client = new LedgerClient([new Uri(address)]);
            using var stopWatching = new CancellationTokenSource();
            var watching = WatchAsync(client, before, stopWatching.Token);
            using var bench = RunningProgram.Start(
                RepoPaths.CliDll,
                ["bench", "--node", address, "--issuer-key", issuerKey, "--clients", "8", "--batch", "50", "--seconds", "60", "--log", acks],
                dir.Path);
            await WaitForLinesAsync(acks, AcknowledgedBeforeCrashMin);
            node.KillHard();
            await stopWatching.CancelAsync();
            await watching;
            bench.KillHard();
        }

        var acknowledged = File.ReadAllLines(acks).Where(line => line.Length == 64).Select(Convert.FromHexString).ToArray();
        Assert.True(acknowledged.Length >= AcknowledgedBeforeCrashMin);
        Assert.NotEmpty(before);

        using var restarted = RunningProgram.Start(RepoPaths.NodeDll, nodeArgs, dir.Path);
        var newAddress = await restarted.WaitForAddressAsync(StepTimeout);
        using var after = new LedgerClient([new Uri(newAddress)]);
        var consortium = Consortium.Load(Path.Combine(dataDir, "consortium.json"));
        var verifier = new ReceiptVerifier(consortium);
        await CheckReceiptsAsync(after, verifier, acknowledged);
        var latest = verifier.Checkpoints.Verify(await after.GetCheckpointAsync()).Checkpoint!;
        await CheckWholeLogAsync(after, latest);
        foreach (var text in before)
        {
            var old = verifier.Checkpoints.Verify(text);
            Assert.True(old.IsValid, old.Reason);
            Assert.True(old.Checkpoint!.Size <= latest.Size);
            if (old.Checkpoint.Size > 0)
            {
                var proof = await after.GetConsistencyProofAsync(old.Checkpoint.Size, latest.Size);
                Assert.True(MerkleProof.VerifyConsistency(old.Checkpoint.Size, latest.Size, old.Checkpoint.Root, latest.Root, proof));
            }
        }
    }

    private static async Task WatchAsync(LedgerClient client, List<string> seen, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var checkpoint in client.WatchCheckpointsAsync(cancellationToken))
            {
                seen.Add(checkpoint);
            }
        }
        catch (Exception exception) when (exception is OperationCanceledException or Grpc.Core.RpcException)
        {
            // The node was killed or the test stopped watching.
        }
    }

    private static async Task WaitForLinesAsync(string path, int linesMin)
    {
        var deadline = DateTime.UtcNow + StepTimeout;
        while (DateTime.UtcNow < deadline)
        {
            if (File.Exists(path) && File.ReadLines(path).Count() >= linesMin)
            {
                return;
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"bench acknowledged fewer than {linesMin} digests in {StepTimeout}");
    }

    private static async Task CheckReceiptsAsync(LedgerClient client, ReceiptVerifier verifier, byte[][] acknowledged)
    {
        var failures = new List<string>();
        await Parallel.ForEachAsync(acknowledged, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (digest, token) =>
        {
            var receipt = await client.GetReceiptAsync(digest, cancellationToken: token);
            var result = receipt is null ? null : verifier.Verify(receipt, digest);
            if (result is null || !result.IsValid)
            {
                lock (failures)
                {
                    failures.Add($"{Convert.ToHexStringLower(digest)}: {(result is null ? "no receipt" : result.Reason)}");
                }
            }
        });
        Assert.Empty(failures);
    }

    /// <summary>Reads every leaf: each decodes, timestamps never decrease, no issuer anchored a digest twice, and the leaves rebuild the signed root.</summary>
    private static async Task CheckWholeLogAsync(LedgerClient client, Checkpoint latest)
    {
        using var store = new InMemoryKeyValueStore();
        var tree = new TileTree(store);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var lastTimestampMs = 0UL;
        for (var start = 0UL; start < latest.Size; start += 1000)
        {
            var leaves = await client.GetEntriesAsync(start, Math.Min(1000, latest.Size - start));
            using var batch = store.CreateBatch();
            var hashes = new List<byte>();
            foreach (var bytes in leaves)
            {
                Assert.True(Leaf.TryDecode(bytes, out var leaf, out var error), error);
                Assert.True(leaf!.TimestampMs >= lastTimestampMs);
                lastTimestampMs = leaf.TimestampMs;
                Assert.True(seen.Add(leaf.Issuer + "/" + leaf.DigestHex), "duplicate leaf " + leaf.DigestHex);
                hashes.AddRange(MerkleHash.Leaf(bytes));
            }

            tree.Append(batch, hashes.ToArray());
            store.Write(batch, sync: false);
        }

        Assert.Equal(latest.Size, tree.Size);
        Assert.Equal(latest.Root, tree.Root());
    }
}
