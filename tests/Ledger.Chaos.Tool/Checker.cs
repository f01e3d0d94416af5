using System.Globalization;
using Ledger.Sdk;
using Ledger.Sdk.Merkle;

namespace Ledger.Chaos.Tool;

/// <summary>
/// Checks a healed consortium against the history of a run: every acknowledged digest is in the log
/// once, at the leaf it was acknowledged at, with a valid quorum-signed receipt from every member;
/// no issuer's digest is in the log twice; every member holds the same log; every checkpoint seen
/// during the run verifies, has the root the final log has at its size, and is consistent with the
/// others (proofs from the members); a request with unknown outcome is in the log once or not at all.
/// </summary>
internal sealed class Checker
{
    /// <summary>Leaves asked for per call (the API's maximum).</summary>
    public const ulong EntriesPerCall = 1_000;

    /// <summary>Consistency proofs fetched at most.</summary>
    public const int ProofPairsMax = 5_000;

    /// <summary>Receipts asked for per call.</summary>
    public const int ReceiptsPerCall = 500;

    private static readonly TimeSpan ConvergePollInterval = TimeSpan.FromMilliseconds(500);

    private readonly IReadOnlyList<IMemberSource> _members;
    private readonly Consortium _consortium;
    private readonly ReceiptVerifier _receipts;
    private readonly CheckReport _report = new();

    public Checker(IReadOnlyList<IMemberSource> members, Consortium consortium)
    {
        _members = members;
        _consortium = consortium;
        _receipts = new ReceiptVerifier(consortium);
    }

    public async Task<CheckReport> RunAsync(
        IReadOnlyList<HistoryRecord> history, IReadOnlyList<CheckpointRecord> checkpoints, IReadOnlyList<FaultRecord> faults, TimeSpan convergeTimeout, CancellationToken cancellationToken)
    {
        foreach (var fault in faults)
        {
            _report.FaultsByKind[fault.Kind] = _report.FaultsByKind.GetValueOrDefault(fault.Kind) + 1;
        }

        foreach (var record in history)
        {
            _report.RequestsByOutcome[record.Outcome] = _report.RequestsByOutcome.GetValueOrDefault(record.Outcome) + 1;
        }

        var collected = checkpoints.ToList();
        var heads = await ConvergeAsync(convergeTimeout, cancellationToken);
        collected.AddRange(heads.Where(head => head.Checkpoint is not null).Select(head => new CheckpointRecord(head.Member.Name + " (final)", 0, head.Checkpoint!)));
        var logs = await ReadLogsAsync(heads, cancellationToken);
        var reference = logs.Count > 0 ? logs.MaxBy(log => log.Leaves.Count) : default;
        if (reference.Leaves is null)
        {
            _report.Problem("no member served its log");
            return _report;
        }

        var index = IndexLog(reference.Member.Name, reference.Leaves);
        foreach (var log in logs.Where(log => log.Member != reference.Member))
        {
            IndexLog(log.Member.Name, log.Leaves);
        }

        CompareLogs(logs, reference);
        CheckHistory(history, index);
        foreach (var member in _members)
        {
            await CheckReceiptsAsync(member, history, collected, cancellationToken);
        }

        await CheckCheckpointsAsync(collected, reference.Leaves, logs, cancellationToken);
        return _report;
    }

    /// <summary>Waits until every member answers with the same tree size and a valid checkpoint of that size and root.</summary>
    private async Task<IReadOnlyList<(IMemberSource Member, ulong TreeSize, string? Checkpoint)>> ConvergeAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        var state = "";
        while (true)
        {
            var heads = await Task.WhenAll(_members.Select(async member =>
            {
                try
                {
                    var (size, checkpoint) = await member.HeadAsync(cancellationToken);
                    return (Member: member, TreeSize: size, Checkpoint: (string?)checkpoint);
                }
                catch (Exception exception) when (exception is Grpc.Core.RpcException or HttpRequestException)
                {
                    return (Member: member, TreeSize: 0UL, Checkpoint: (string?)null);
                }
            }));
            var views = heads.Select(head => (head, Verified: head.Checkpoint is null ? null : _receipts.Checkpoints.Verify(head.Checkpoint))).ToArray();
            state = string.Join("; ", views.Select(view => $"{view.head.Member.Name}: " + (view.Verified is null
                ? "no answer"
                : view.Verified.IsValid ? $"tree {view.head.TreeSize}, checkpoint {view.Verified.Checkpoint!.Size} {Convert.ToHexStringLower(view.Verified.Checkpoint.Root)[..12]}" : "checkpoint invalid: " + view.Verified.Reason)));
            var first = views[0].Verified?.Checkpoint;
            var converged = first is not null && views.All(view =>
                view.Verified is { IsValid: true }
                && view.head.TreeSize == first.Size
                && view.Verified.Checkpoint!.Size == first.Size
                && view.Verified.Checkpoint.Root.AsSpan().SequenceEqual(first.Root));
            if (converged)
            {
                _report.Checked("members converged on one tree head");
                _report.FinalTreeSize = first!.Size;
                _report.MembersAtFinalTree = views.Length;
                return heads;
            }

            if (DateTime.UtcNow >= deadline)
            {
                _report.Problem($"the members did not reach the same tree within {timeout.TotalSeconds:0} s: {state}");
                return heads;
            }

            await Task.Delay(ConvergePollInterval, cancellationToken);
        }
    }

    private async Task<List<(IMemberSource Member, IReadOnlyList<byte[]> Leaves)>> ReadLogsAsync(
        IReadOnlyList<(IMemberSource Member, ulong TreeSize, string? Checkpoint)> heads, CancellationToken cancellationToken)
    {
        var logs = new List<(IMemberSource, IReadOnlyList<byte[]>)>();
        foreach (var (member, size, checkpoint) in heads)
        {
            if (checkpoint is null)
            {
                _report.Problem($"{member.Name} did not answer: its log was not read");
                continue;
            }

            var leaves = new List<byte[]>();
            try
            {
                while ((ulong)leaves.Count < size)
                {
                    var start = (ulong)leaves.Count;
                    var batch = await member.EntriesAsync(start, Math.Min(EntriesPerCall, size - start), cancellationToken);
                    if (batch.Count == 0)
                    {
                        _report.Problem($"{member.Name} served no leaves from {start} although its tree has {size}");
                        break;
                    }

                    leaves.AddRange(batch);
                }
            }
            catch (Exception exception) when (exception is Grpc.Core.RpcException or HttpRequestException)
            {
                _report.Problem($"{member.Name} stopped serving its log at leaf {leaves.Count}: {exception.Message}");
            }

            _report.Checked("leaves read", leaves.Count);
            logs.Add((member, leaves));
        }

        return logs;
    }

    /// <summary>Decodes a log, reports leaves that do not decode, a digest an issuer has twice and timestamps going back; returns issuer/digest → leaf.</summary>
    private Dictionary<string, ulong> IndexLog(string member, IReadOnlyList<byte[]> leaves)
    {
        var index = new Dictionary<string, ulong>(StringComparer.Ordinal);
        var lastTimestampMs = 0UL;
        for (var i = 0; i < leaves.Count; i++)
        {
            if (!Leaf.TryDecode(leaves[i], out var leaf, out var error))
            {
                _report.Problem($"{member}: leaf {i} does not decode: {error}");
                continue;
            }

            if (leaf!.TimestampMs < lastTimestampMs)
            {
                _report.Problem($"{member}: leaf {i} is stamped {leaf.TimestampMs}, before the leaf ahead of it ({lastTimestampMs})");
            }

            lastTimestampMs = Math.Max(lastTimestampMs, leaf.TimestampMs);
            var key = Key(leaf.Issuer, leaf.DigestHex);
            if (!index.TryAdd(key, (ulong)i))
            {
                _report.Problem($"{member}: issuer {leaf.Issuer} has digest {leaf.DigestHex} twice in the log, at leaves {index[key]} and {i}");
            }
        }

        _report.Checked("logs scanned for duplicate digests and timestamp order");
        return index;
    }

    private void CompareLogs(IReadOnlyList<(IMemberSource Member, IReadOnlyList<byte[]> Leaves)> logs, (IMemberSource Member, IReadOnlyList<byte[]> Leaves) reference)
    {
        foreach (var (member, leaves) in logs.Where(log => log.Member != reference.Member))
        {
            _report.Checked("member logs compared leaf by leaf");
            if (leaves.Count != reference.Leaves.Count)
            {
                _report.Problem($"{member.Name} holds {leaves.Count} leaves, {reference.Member.Name} {reference.Leaves.Count}");
            }

            for (var i = 0; i < Math.Min(leaves.Count, reference.Leaves.Count); i++)
            {
                if (!leaves[i].AsSpan().SequenceEqual(reference.Leaves[i]))
                {
                    _report.Problem($"{member.Name} and {reference.Member.Name} hold different leaves at {i}");
                    break;
                }
            }
        }
    }

    private void CheckHistory(IReadOnlyList<HistoryRecord> history, Dictionary<string, ulong> log)
    {
        var requested = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var r = 0; r < history.Count; r++)
        {
            var record = history[r];
            for (var i = 0; i < record.Digests.Count; i++)
            {
                var key = Key(record.Issuer, record.Digests[i]);
                if (!requested.TryAdd(key, r))
                {
                    _report.Problem($"issuer {record.Issuer} sent digest {record.Digests[i]} in two requests (history lines {requested[key] + 1} and {r + 1}): the history is not one of fresh digests");
                }

                var inLog = log.TryGetValue(key, out var leafIndex);
                switch (record.Outcome)
                {
                    case Outcomes.Acknowledged:
                        CheckAcknowledged(record, i, inLog, leafIndex);
                        break;
                    case Outcomes.Refused:
                        _report.RefusedDigestsInLog += inLog ? 1 : 0;
                        break;
                    default:
                        _report.UnknownDigestsInLog += inLog ? 1 : 0;
                        _report.UnknownDigestsNotInLog += inLog ? 0 : 1;
                        _report.Checked("unknown-outcome digests found in the log at most once");
                        break;
                }
            }
        }
    }

    private void CheckAcknowledged(HistoryRecord record, int i, bool inLog, ulong leafIndex)
    {
        _report.DigestsAcknowledged++;
        _report.Checked("acknowledged digests looked up in the log");
        if (!inLog)
        {
            _report.Lost++;
            _report.Problem($"LOST: issuer {record.Issuer} digest {record.Digests[i]} was acknowledged at leaf {LeafText(record, i)} and is not in the log");
        }
        else if (i >= record.LeafIndices.Count || leafIndex != record.LeafIndices[i])
        {
            _report.Problem($"issuer {record.Issuer} digest {record.Digests[i]} was acknowledged at leaf {LeafText(record, i)} but is at leaf {leafIndex}");
        }
    }

    private async Task CheckReceiptsAsync(IMemberSource member, IReadOnlyList<HistoryRecord> history, List<CheckpointRecord> collected, CancellationToken cancellationToken)
    {
        var acknowledged = history
            .Where(record => record.Outcome == Outcomes.Acknowledged)
            .SelectMany(record => record.Digests.Select((digest, i) => (record.Issuer, Digest: digest, Leaf: i < record.LeafIndices.Count ? record.LeafIndices[i] : ulong.MaxValue)));
        var receiptCheckpoints = new HashSet<string>(StringComparer.Ordinal);
        foreach (var group in acknowledged.GroupBy(ack => ack.Issuer, StringComparer.Ordinal))
        {
            foreach (var chunk in group.Chunk(ReceiptsPerCall))
            {
                IReadOnlyList<string?> receipts;
                try
                {
                    receipts = await member.ReceiptsAsync([.. chunk.Select(ack => Convert.FromHexString(ack.Digest))], group.Key, cancellationToken);
                }
                catch (Exception exception) when (exception is Grpc.Core.RpcException or HttpRequestException)
                {
                    _report.Problem($"{member.Name} did not serve receipts: {exception.Message}");
                    return;
                }

                for (var i = 0; i < chunk.Length; i++)
                {
                    _report.Checked("receipts verified offline (quorum-signed checkpoint, inclusion proof, issuer, leaf)");
                    var problem = ReceiptProblem(chunk[i].Digest, chunk[i].Leaf, group.Key, i < receipts.Count ? receipts[i] : null, receiptCheckpoints);
                    if (problem is not null)
                    {
                        _report.Problem($"{member.Name}: receipt of issuer {group.Key} digest {chunk[i].Digest}: {problem}");
                    }
                }
            }
        }

        collected.AddRange(receiptCheckpoints.Select(text => new CheckpointRecord(member.Name + " (receipt)", 0, text)));
    }

    private string? ReceiptProblem(string digestHex, ulong leafIndex, string issuer, string? text, HashSet<string> checkpoints)
    {
        if (text is null)
        {
            return "none served (the member says it is not anchored)";
        }

        if (!Receipt.TryParse(text, out var receipt, out var error))
        {
            return "does not parse: " + error;
        }

        checkpoints.Add(receipt!.CheckpointNote);
        var result = _receipts.Verify(receipt, Convert.FromHexString(digestHex));
        if (!result.IsValid)
        {
            return "INVALID: " + result.Reason;
        }

        if (result.Signers.Count < _consortium.Quorum)
        {
            return $"its checkpoint has {result.Signers.Count} member signatures, the quorum is {_consortium.Quorum}";
        }

        if (result.Leaf!.Issuer != issuer)
        {
            return $"the leaf names issuer {result.Leaf.Issuer}";
        }

        return result.Index == leafIndex ? null : $"it proves leaf {result.Index}, the anchor was acknowledged at leaf {leafIndex}";
    }

    private async Task CheckCheckpointsAsync(
        IReadOnlyList<CheckpointRecord> collected, IReadOnlyList<byte[]> finalLog, IReadOnlyList<(IMemberSource Member, IReadOnlyList<byte[]> Leaves)> logs, CancellationToken cancellationToken)
    {
        var bySize = new SortedDictionary<ulong, (byte[] Root, string Source)>();
        var verified = new List<(Checkpoint Checkpoint, string Source)>();
        foreach (var record in collected.DistinctBy(record => record.Text, StringComparer.Ordinal))
        {
            _report.Checked("checkpoints verified (origin, quorum of member signatures)");
            var result = _receipts.Checkpoints.Verify(record.Text);
            if (!result.IsValid)
            {
                _report.Problem($"a checkpoint from {record.Source} does not verify: {result.Reason}");
                continue;
            }

            verified.Add((result.Checkpoint!, record.Source));
        }

        var roots = MerkleRoots.RootsAt(finalLog, verified.Select(v => v.Checkpoint.Size));
        foreach (var (checkpoint, source) in verified)
        {
            _report.Checked("checkpoint roots recomputed from the final log");
            if (!roots.TryGetValue(checkpoint.Size, out var root))
            {
                _report.Problem($"a checkpoint from {source} has size {checkpoint.Size}, beyond the final log ({finalLog.Count} leaves)");
            }
            else if (!root.AsSpan().SequenceEqual(checkpoint.Root))
            {
                _report.Problem($"INCONSISTENT: the checkpoint of size {checkpoint.Size} from {source} has root {Hex(checkpoint.Root)}, the final log's root at that size is {Hex(root)}");
            }

            if (bySize.TryGetValue(checkpoint.Size, out var known))
            {
                if (!known.Root.AsSpan().SequenceEqual(checkpoint.Root))
                {
                    _report.Problem($"INCONSISTENT: two roots for tree size {checkpoint.Size}: {Hex(known.Root)} from {known.Source}, {Hex(checkpoint.Root)} from {source}");
                }
            }
            else
            {
                bySize[checkpoint.Size] = (checkpoint.Root, source);
            }
        }

        await CheckProofsAsync(bySize, logs, cancellationToken);
    }

    /// <summary>Consistency proofs from the members between consecutive sizes and from each size to the largest: with one root per size, every pair is covered.</summary>
    private async Task CheckProofsAsync(
        SortedDictionary<ulong, (byte[] Root, string Source)> bySize, IReadOnlyList<(IMemberSource Member, IReadOnlyList<byte[]> Leaves)> logs, CancellationToken cancellationToken)
    {
        var sizes = bySize.Keys.Where(size => size > 0).ToArray();
        var pairs = new List<(ulong Old, ulong New)>();
        for (var i = 0; i + 1 < sizes.Length; i++)
        {
            pairs.Add((sizes[i], sizes[i + 1]));
            if (i + 2 < sizes.Length)
            {
                pairs.Add((sizes[i], sizes[^1]));
            }
        }

        if (pairs.Count > ProofPairsMax)
        {
            _report.Checked($"checkpoint pairs not proved (over {ProofPairsMax})", pairs.Count - ProofPairsMax);
        }

        for (var p = 0; p < Math.Min(pairs.Count, ProofPairsMax); p++)
        {
            var (oldSize, newSize) = pairs[p];
            var source = logs[p % logs.Count].Member;
            var sourceSize = (ulong)logs[p % logs.Count].Leaves.Count;
            if (sourceSize < newSize)
            {
                source = logs.MaxBy(log => log.Leaves.Count).Member;
            }

            _report.Checked("checkpoint pairs proved consistent (RFC 9162 proofs from the members)");
            try
            {
                var proof = await source.ConsistencyProofAsync(oldSize, newSize, cancellationToken);
                if (!MerkleProof.VerifyConsistency(oldSize, newSize, bySize[oldSize].Root, bySize[newSize].Root, proof))
                {
                    _report.Problem($"INCONSISTENT: the checkpoint of size {oldSize} ({bySize[oldSize].Source}) is not consistent with the one of size {newSize} ({bySize[newSize].Source}); proof from {source.Name}");
                }
            }
            catch (Exception exception) when (exception is Grpc.Core.RpcException or HttpRequestException)
            {
                _report.Problem($"{source.Name} gave no consistency proof from {oldSize} to {newSize}: {exception.Message}");
            }
        }
    }

    private static string Key(string issuer, string digestHex) => issuer + "/" + digestHex.ToLowerInvariant();

    private static string LeafText(HistoryRecord record, int i) =>
        i < record.LeafIndices.Count ? record.LeafIndices[i].ToString(CultureInfo.InvariantCulture) : "?";

    private static string Hex(byte[] bytes) => Convert.ToHexStringLower(bytes)[..16];
}
