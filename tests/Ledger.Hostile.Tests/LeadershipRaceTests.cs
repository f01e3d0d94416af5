using System.Collections.Concurrent;
using System.Security.Cryptography;
using Grpc.Core;
using Ledger.Hostile.Tests.Support;
using Ledger.Sdk;
using Ledger.Sdk.Client;
using Xunit.Abstractions;

namespace Ledger.Hostile.Tests;

/// <summary>
/// Anchor requests in flight while the leader is paused (SIGSTOP) and, once another leads, killed (kill -9):
/// every digest a member acknowledged is in the log afterwards, at the leaf it was acknowledged with, and no
/// issuer's digest is in the log twice.
/// </summary>
public sealed class LeadershipRaceTests(ITestOutputHelper output)
{
    private const int Loops = 4;
    private const int RequestsPerLoop = 40;
    private const int DigestsPerRequest = 10;

    [Fact]
    public async Task Anchors_racing_a_paused_then_killed_leader_are_all_kept_once()
    {
        await using var ledger = await HostileLedger.StartAsync(3);
        await ledger.RunAsync(TimeSpan.FromSeconds(150), async token =>
        {
            var everyone = Enumerable.Range(0, ledger.Count).ToArray();
            var firstLeader = await ledger.WaitForLeaderAsync(everyone, token);
            var acknowledged = new ConcurrentDictionary<string, ulong>(StringComparer.Ordinal);
            var refused = new ConcurrentQueue<string>();
            var requests = 0;

            // Clients over every member, short deadlines (a paused member holds a call until its deadline).
            using var client = new LedgerClient(ledger.Addresses, new LedgerClientOptions(TimeSpan.FromSeconds(3), 10, TimeSpan.FromMilliseconds(100)));
            async Task LoopAsync()
            {
                for (var i = 0; i < RequestsPerLoop; i++)
                {
                    var digests = Enumerable.Range(0, DigestsPerRequest).Select(_ => RandomNumberGenerator.GetBytes(32)).ToArray();
                    Interlocked.Increment(ref requests);
                    try
                    {
                        var result = await client.AnchorAsync(ledger.Issuer, digests, includeReceipts: false, token);
                        for (var d = 0; d < digests.Length; d++)
                        {
                            Assert.True(acknowledged.TryAdd(Convert.ToHexStringLower(digests[d]), result.LeafIndices[d]));
                        }
                    }
                    catch (RpcException exception) when (exception.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded)
                    {
                        // Unknown outcome: it may or may not be in the log, but only once (checked below).
                        refused.Enqueue(exception.Status.Detail);
                    }

                    await Task.Delay(50, token);
                }
            }

            var load = Task.WhenAll(Enumerable.Range(0, Loops).Select(_ => Task.Run(LoopAsync, token)));

            await Task.Delay(1_000, token);
            await ledger.Node(firstLeader).PauseAsync(token);
            var others = everyone.Where(i => i != firstLeader).ToArray();
            var secondLeader = await ledger.WaitForLeaderAsync(others, token);
            await Task.Delay(1_000, token);
            await ledger.Node(firstLeader).ResumeAsync(token);
            await Task.Delay(1_000, token);
            ledger.Node(secondLeader).Kill();
            var survivors = everyone.Where(i => i != secondLeader).ToArray();
            await ledger.WaitForLeaderAsync(survivors, token);
            await load;
            output.WriteLine($"leaders: {ledger.MemberKeys[firstLeader].Name} paused, {ledger.MemberKeys[secondLeader].Name} killed; " +
                $"{requests} requests, {acknowledged.Count} digests acknowledged, {refused.Count} requests with unknown outcome");
            Assert.True(acknowledged.Count >= DigestsPerRequest * Loops, "too few anchors were acknowledged to say anything");

            // Every acknowledged digest on every surviving member at its leaf; no digest twice.
            foreach (var member in survivors)
            {
                var size = await WaitForTreeAsync(ledger, member, acknowledged.Values.Max() + 1, token);
                var seen = new Dictionary<string, ulong>(StringComparer.Ordinal);
                for (ulong start = 0; start < size; start += 1_000)
                {
                    var leaves = await ledger.Client(member).GetEntriesAsync(start, Math.Min(1_000, size - start), token);
                    for (var i = 0; i < leaves.Count; i++)
                    {
                        Assert.True(Leaf.TryDecode(leaves[i], out var leaf, out var error), error);
                        var key = leaf!.Issuer + "/" + leaf.DigestHex;
                        Assert.True(seen.TryAdd(key, start + (ulong)i), $"{key} is at leaves {seen.GetValueOrDefault(key)} and {start + (ulong)i} on {ledger.MemberKeys[member].Name}");
                    }
                }

                foreach (var (digest, index) in acknowledged)
                {
                    Assert.True(seen.TryGetValue(ledger.Issuer.Name + "/" + digest, out var at), $"acknowledged digest {digest} is missing on {ledger.MemberKeys[member].Name}");
                    Assert.Equal(index, at);
                }
            }
        });
    }

    /// <summary>Waits (bounded) until the member's tree has at least <paramref name="size"/> leaves and its leader's commit applied; returns its size.</summary>
    private static async Task<ulong> WaitForTreeAsync(HostileLedger ledger, int member, ulong size, CancellationToken cancellationToken)
    {
        var last = 0UL;
        for (var attempt = 0; attempt < 300; attempt++)
        {
            var status = await ledger.TryStatusAsync(member, cancellationToken);
            last = status?.TreeSize ?? 0;
            if (status is not null && last >= size && status.Members.All(m => m.Role == "unreachable" || m.Lag == 0))
            {
                return last;
            }

            await Task.Delay(100, cancellationToken);
        }

        throw new TimeoutException($"{ledger.MemberKeys[member].Name} has {last} leaves, fewer than {size}");
    }
}
