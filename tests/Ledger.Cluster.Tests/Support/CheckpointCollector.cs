using System.Collections.Concurrent;
using Ledger.Sdk;
using Ledger.Sdk.Client;
using Ledger.Sdk.Merkle;

namespace Ledger.Cluster.Tests.Support;

/// <summary>
/// Collects every signed checkpoint the members serve (by polling GetCheckpoint on each, and from
/// receipts) and checks them all against each other: each verifies with a quorum, equal sizes have
/// equal roots, and a smaller one is consistent with every larger one (RFC 9162 proofs).
/// </summary>
internal sealed class CheckpointCollector
{
    /// <summary>Distinct checkpoint texts remembered; more are counted but not kept.</summary>
    public const int CheckpointsMax = 20_000;

    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    private readonly ConcurrentDictionary<string, string> _seenBy = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _polledFrom = new(StringComparer.Ordinal);
    private int _overflow;

    public int Count => _seenBy.Count;

    /// <summary>Members that answered GetCheckpoint at least once while polled.</summary>
    public IReadOnlyCollection<string> PolledFrom => [.. _polledFrom.Keys];

    /// <summary>Records a checkpoint text and who served it.</summary>
    public void Add(string text, string source)
    {
        if (string.IsNullOrEmpty(text))
        {
            return;
        }

        if (_seenBy.Count >= CheckpointsMax)
        {
            Interlocked.Increment(ref _overflow);
            return;
        }

        _seenBy.TryAdd(text, source);
    }

    /// <summary>
    /// Polls every member of the cluster (GetCheckpoint) and watches each (WatchCheckpoints, reconnecting)
    /// until <paramref name="stop"/> is cancelled; members that do not answer are skipped.
    /// </summary>
    public Task PollAsync(LedgerCluster cluster, CancellationToken stop) =>
        Task.WhenAll(Enumerable.Range(0, cluster.Count).SelectMany(i => new[]
        {
            PollMemberAsync(cluster.Probe(i), cluster.MemberIds[i], stop),
            WatchMemberAsync(cluster.Probe(i), cluster.MemberIds[i] + " watch", stop),
        }));

    /// <summary>
    /// Every problem found among the collected checkpoints. Consistency proofs come from
    /// <paramref name="proofSource"/>, which must hold the largest tree seen.
    /// </summary>
    public async Task<IReadOnlyList<string>> ProblemsAsync(CheckpointVerifier verifier, LedgerClient proofSource, CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        var bySize = new SortedDictionary<ulong, (byte[] Root, string Source)>();
        foreach (var (text, source) in _seenBy)
        {
            var result = verifier.Verify(text);
            if (!result.IsValid)
            {
                problems.Add($"checkpoint from {source} does not verify: {result.Reason}\n{text}");
                continue;
            }

            var checkpoint = result.Checkpoint!;
            if (bySize.TryGetValue(checkpoint.Size, out var known))
            {
                if (!known.Root.AsSpan().SequenceEqual(checkpoint.Root))
                {
                    problems.Add($"two roots for tree size {checkpoint.Size}: {Convert.ToHexStringLower(known.Root)} from {known.Source}, {Convert.ToHexStringLower(checkpoint.Root)} from {source}");
                }

                continue;
            }

            bySize[checkpoint.Size] = (checkpoint.Root, source);
        }

        var sizes = bySize.Keys.Where(size => size > 0).ToArray();
        if (sizes.Length < 2)
        {
            return problems;
        }

        // Consecutive sizes, and each against the largest: with equal roots per size this covers every pair.
        var largest = sizes[^1];
        for (var i = 0; i + 1 < sizes.Length; i++)
        {
            await CheckPairAsync(proofSource, sizes[i], sizes[i + 1], bySize, problems, cancellationToken);
            if (sizes[i + 1] != largest)
            {
                await CheckPairAsync(proofSource, sizes[i], largest, bySize, problems, cancellationToken);
            }
        }

        return problems;
    }

    private static async Task CheckPairAsync(
        LedgerClient proofSource, ulong oldSize, ulong newSize, SortedDictionary<ulong, (byte[] Root, string Source)> bySize, List<string> problems, CancellationToken cancellationToken)
    {
        var older = bySize[oldSize];
        var newer = bySize[newSize];
        var proof = await proofSource.GetConsistencyProofAsync(oldSize, newSize, cancellationToken);
        if (!MerkleProof.VerifyConsistency(oldSize, newSize, older.Root, newer.Root, proof))
        {
            problems.Add($"tree {oldSize} ({older.Source}) is not consistent with tree {newSize} ({newer.Source})");
        }
    }

    private async Task WatchMemberAsync(LedgerClient probe, string source, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await foreach (var checkpoint in probe.WatchCheckpointsAsync(stop))
                {
                    Add(checkpoint, source);
                }
            }
            catch (Grpc.Core.RpcException)
            {
                // The member went away or ended the stream: watch again once it is back.
            }
            catch (OperationCanceledException)
            {
                return;
            }

            try
            {
                await Task.Delay(PollInterval, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task PollMemberAsync(LedgerClient probe, string memberId, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                Add(await probe.GetCheckpointAsync(stop), memberId);
                _polledFrom.AddOrUpdate(memberId, 1, (_, count) => count + 1);
            }
            catch (Grpc.Core.RpcException)
            {
                // Killed or paused: nothing to collect now.
            }
            catch (OperationCanceledException)
            {
                return;
            }

            try
            {
                await Task.Delay(PollInterval, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
