using Ledger.Sdk;
using Ledger.Sdk.Client;

namespace Ledger.Cluster.Tests.Support;

/// <summary>Waits that end in an assertion: convergence of members, receipts served by a member.</summary>
internal static class ClusterChecks
{
    /// <summary>
    /// Waits until every member in <paramref name="members"/> reports the same tree size and serves a
    /// checkpoint of that size with the same root; returns the size.
    /// </summary>
    public static async Task<ulong> WaitForConvergenceAsync(LedgerCluster cluster, IEnumerable<int> members, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var indices = members.ToArray();
        var verifier = new CheckpointVerifier(cluster.Consortium);
        ulong size = 0;
        await Wait.UntilAsync($"{string.Join(", ", indices.Select(i => cluster.MemberIds[i]))} converge", timeout, async token =>
        {
            var views = await Task.WhenAll(indices.Select(async i =>
            {
                var status = await cluster.TryStatusAsync(i, token);
                var checkpoint = status is null ? null : verifier.Verify(status.Checkpoint);
                return (Index: i, Status: status, Checkpoint: checkpoint);
            }));
            var state = string.Join("; ", views.Select(v =>
                $"{cluster.MemberIds[v.Index]}: tree {v.Status?.TreeSize.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"}, checkpoint "
                + (v.Checkpoint is null ? "?" : v.Checkpoint.IsValid ? $"{v.Checkpoint.Checkpoint!.Size} {Convert.ToHexStringLower(v.Checkpoint.Checkpoint.Root)[..12]}" : "invalid: " + v.Checkpoint.Reason)));
            if (views.Any(v => v.Status is null || v.Checkpoint is null || !v.Checkpoint.IsValid))
            {
                return (false, state);
            }

            var first = views[0];
            size = first.Status!.TreeSize;
            var converged = views.All(v =>
                v.Status!.TreeSize == size
                && v.Checkpoint!.Checkpoint!.Size == size
                && v.Checkpoint.Checkpoint.Root.AsSpan().SequenceEqual(first.Checkpoint!.Checkpoint!.Root));
            return (converged, state);
        }, cancellationToken);
        return size;
    }

    /// <summary>
    /// Waits until member <paramref name="index"/> has applied every acknowledged leaf and serves a valid
    /// receipt for each; fails with the problems of the last attempt otherwise.
    /// </summary>
    public static async Task WaitForReceiptsAsync(
        LedgerCluster cluster,
        int index,
        IReadOnlyList<Acknowledged> acknowledged,
        CheckpointCollector? collector,
        TimeSpan timeout,
        CancellationToken cancellationToken,
        IReadOnlySet<string>? signersAllowed = null)
    {
        var member = cluster.MemberIds[index];
        var verifier = new ReceiptVerifier(cluster.Consortium);
        var needed = acknowledged.Count == 0 ? 0 : acknowledged.Max(ack => ack.LeafIndex) + 1;
        await Wait.UntilAsync($"{member} applies {needed} leaves", timeout, async token =>
        {
            var status = await cluster.TryStatusAsync(index, token);
            return (status is not null && status.TreeSize >= needed, LedgerCluster.Describe(status));
        }, cancellationToken);
        await Wait.UntilAsync($"{member} serves a valid receipt for each of {acknowledged.Count} acknowledged digests", timeout, async token =>
        {
            var problems = await ReceiptCheck.ProblemsAsync(
                cluster.Client(index), verifier, acknowledged, text => collector?.Add(text, member + " receipt"), signersAllowed, token);
            return (problems.Count == 0, string.Join("\n  ", problems.Prepend("")));
        }, cancellationToken);
    }

    /// <summary>
    /// Reads the first <paramref name="size"/> leaves from <paramref name="client"/> and lists what is wrong
    /// with the log: a leaf that does not decode, a timestamp lower than the one before (SPEC §3), a digest
    /// that one issuer has twice, leaves missing.
    /// </summary>
    public static async Task<IReadOnlyList<string>> LogProblemsAsync(LedgerClient client, ulong size, CancellationToken cancellationToken)
    {
        const ulong perCall = 1_000;
        const int problemsMax = 20;
        var problems = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var lastTimestampMs = 0UL;
        var index = 0UL;
        while (index < size && problems.Count < problemsMax)
        {
            var leaves = await client.GetEntriesAsync(index, Math.Min(perCall, size - index), cancellationToken);
            if (leaves.Count == 0)
            {
                problems.Add($"no leaves from index {index} although the tree has {size}");
                break;
            }

            foreach (var bytes in leaves)
            {
                if (!Leaf.TryDecode(bytes, out var leaf, out var error))
                {
                    problems.Add($"leaf {index} does not decode: {error}");
                }
                else
                {
                    if (leaf!.TimestampMs < lastTimestampMs)
                    {
                        problems.Add($"leaf {index} has timestamp {leaf.TimestampMs}, below the previous leaf's {lastTimestampMs}");
                    }

                    lastTimestampMs = Math.Max(lastTimestampMs, leaf.TimestampMs);
                    if (!seen.Add(leaf.Issuer + "/" + leaf.DigestHex))
                    {
                        problems.Add($"leaf {index}: issuer {leaf.Issuer} anchored {leaf.DigestHex} a second time");
                    }
                }

                index++;
            }
        }

        return problems;
    }
}
