namespace Ledger.Consensus;

public sealed partial class RaftNode
{
    private readonly List<PendingRead> _pendingReads = [];
    private ulong _readRound;

    private readonly record struct PendingRead(ulong Round, ulong Index, ulong RequestContext);

    /// <summary>Proposes one entry of opaque data. The memory is referenced, not copied: do not change it.</summary>
    public ProposeResult Propose(ReadOnlyMemory<byte> data) => ProposeBatch([data]);

    /// <summary>
    /// Proposes a batch of entries appended together and replicated in as few messages as the limits allow.
    /// All or none are accepted.
    /// </summary>
    public ProposeResult ProposeBatch(ReadOnlySpan<ReadOnlyMemory<byte>> batch)
    {
        RequireNoOutstandingReady();
        if (batch.IsEmpty || batch.Length > _config.MaxProposalBatchEntries)
        {
            return Result(ProposeStatus.RejectedTooLarge);
        }

        ulong batchBytes = 0;
        foreach (ReadOnlyMemory<byte> data in batch)
        {
            if ((ulong)data.Length > _config.MaxEntryBytes)
            {
                return Result(ProposeStatus.RejectedTooLarge);
            }

            batchBytes += (ulong)data.Length;
        }

        ProposeResult? refusal = RefuseProposal(batchBytes);
        if (refusal is not null)
        {
            return refusal.Value;
        }

        foreach (ReadOnlyMemory<byte> data in batch)
        {
            AppendAsLeader(EntryKind.Normal, data);
        }

        _uncommittedBytes += batchBytes;
        return new ProposeResult(ProposeStatus.Accepted, _config.NodeId, _log.LastIndex, _term);
    }

    private ProposeResult? RefuseProposal(ulong batchBytes)
    {
        if (Role != RaftRole.Leader)
        {
            return Result(ProposeStatus.NotLeader);
        }

        if (_leadTransferee != 0)
        {
            return Result(ProposeStatus.DroppedTransferInProgress);
        }

        // An empty pipeline always takes one batch, so a single large batch cannot starve.
        if (_uncommittedBytes > 0 && _uncommittedBytes + batchBytes > _config.MaxUncommittedBytes)
        {
            return Result(ProposeStatus.DroppedUncommittedLimit);
        }

        return null;
    }

    private ProposeResult Result(ProposeStatus status, string? reason = null) =>
        new(status, _leaderId, 0, 0, reason);

    private void AppendAsLeader(EntryKind kind, ReadOnlyMemory<byte> data)
    {
        var entry = new Entry(_term, _log.LastIndex + 1, kind, data);
        _log.AppendOne(entry);
        if (kind == EntryKind.MembershipChange)
        {
            TrackMembershipEntries([entry]);
        }

        _broadcastPending = true; // sent by the next Ready, so proposals between two Ready calls share messages
    }

    /// <summary>
    /// Proposes a single-step membership change. Refused while an earlier change is uncommitted, before
    /// this leader has committed an entry of its term, and for removing the leader itself (transfer first).
    /// The change takes effect on every node as soon as the entry is in its log.
    /// </summary>
    public ProposeResult ProposeMembershipChange(MembershipChange change)
    {
        RequireNoOutstandingReady();
        ProposeResult? refusal = RefuseProposal(MembershipChange.EncodedBytes);
        if (refusal is not null)
        {
            return refusal.Value;
        }

        string? reason = MembershipChangeRefusal(change);
        if (reason is not null)
        {
            return Result(ProposeStatus.RejectedMembershipChange, reason);
        }

        AppendAsLeader(EntryKind.MembershipChange, change.Encode());
        _pendingMembershipIndex = _log.LastIndex;
        return new ProposeResult(ProposeStatus.Accepted, _config.NodeId, _log.LastIndex, _term);
    }

    private string? MembershipChangeRefusal(MembershipChange change)
    {
        if (_pendingMembershipIndex > _log.Committed)
        {
            return "an earlier membership change is not yet committed";
        }

        if (_log.Term(_log.Committed) != _term)
        {
            return "the leader has not yet committed an entry of its term";
        }

        if (change.NodeId == _config.NodeId && change.Kind != MembershipChangeKind.AddVoter)
        {
            return "the leader cannot remove or demote itself; transfer leadership first";
        }

        return Membership.TryApply(change, out string? reason) is null ? reason : null;
    }

    /// <summary>
    /// Hands leadership to <paramref name="transferee"/> (dissertation §3.10): proposals are refused
    /// while the transferee catches up, then it gets TimeoutNow. Abandoned after an election timeout.
    /// </summary>
    public bool TransferLeadership(ulong transferee)
    {
        RequireNoOutstandingReady();
        if (Role != RaftRole.Leader || transferee == _config.NodeId || !Membership.IsVoter(transferee) || !_progress.TryGetValue(transferee, out Progress? pr))
        {
            return false;
        }

        _leadTransferee = transferee;
        _electionElapsedTicks = 0;
        if (pr.Match == _log.LastIndex)
        {
            Send(new Message { Kind = MessageKind.TimeoutNow, To = transferee, Term = _term });
        }
        else
        {
            SendAppend(transferee, pr, sendIfEmpty: true);
        }

        return true;
    }

    /// <summary>
    /// Starts a linearizable read (dissertation §6.4): the current commit index is confirmed by a
    /// heartbeat round acknowledged by a quorum; the result arrives as a <see cref="ReadState"/>.
    /// </summary>
    public ReadIndexStatus ReadIndex(ulong requestContext)
    {
        RequireNoOutstandingReady();
        if (Role != RaftRole.Leader)
        {
            return ReadIndexStatus.NotLeader;
        }

        if (_log.Term(_log.Committed) != _term)
        {
            return ReadIndexStatus.NotReady;
        }

        if (_pendingReads.Count >= _config.MaxPendingReads)
        {
            return ReadIndexStatus.DroppedPendingLimit;
        }

        _readRound++;
        _pendingReads.Add(new PendingRead(_readRound, _log.Committed, requestContext));
        if (_progress.TryGetValue(_config.NodeId, out Progress? self))
        {
            self.ReadAckRound = _readRound;
        }

        BroadcastHeartbeat(_readRound);
        ReleaseConfirmedReads();
        return ReadIndexStatus.Pending;
    }

    private void ReleaseConfirmedReads()
    {
        int released = 0;
        while (released < _pendingReads.Count && IsReadConfirmed(_pendingReads[released].Round))
        {
            PendingRead read = _pendingReads[released];
            _ready.ReadStateList.Add(new ReadState(read.Index, read.RequestContext));
            released++;
        }

        _pendingReads.RemoveRange(0, released);
    }

    private bool IsReadConfirmed(ulong round)
    {
        int acks = 0;
        foreach (ulong voter in Membership.VoterArray)
        {
            if (voter == _config.NodeId || (_progress.TryGetValue(voter, out Progress? pr) && pr.ReadAckRound >= round))
            {
                acks++;
            }
        }

        return acks >= Membership.QuorumSize;
    }
}
