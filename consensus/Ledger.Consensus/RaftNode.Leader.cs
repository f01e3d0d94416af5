namespace Ledger.Consensus;

public sealed partial class RaftNode
{
    private void StepLeader(in Message m)
    {
        if (!_progress.TryGetValue(m.From, out Progress? pr))
        {
            return; // not a member (any more)
        }

        pr.RecentActive = true;
        switch (m.Kind)
        {
            case MessageKind.AppendResponse:
                HandleAppendResponse(m, pr);
                break;
            case MessageKind.HeartbeatResponse:
                HandleHeartbeatResponse(m, pr);
                break;
            default:
                break;
        }
    }

    private void HandleAppendResponse(in Message m, Progress pr)
    {
        if (m.Reject)
        {
            ulong hint = m.RejectHint;
            if (m.LogTerm > 0)
            {
                hint = _log.FindConflictByTerm(hint, m.LogTerm);
            }

            if (pr.MaybeDecreaseTo(m.Index, hint))
            {
                if (pr.State == ReplicationState.Replicate)
                {
                    pr.BecomeProbe();
                }

                SendAppend(m.From, pr, sendIfEmpty: true);
            }

            return;
        }

        bool wasPaused = pr.IsPaused;
        if (!pr.MaybeUpdate(m.Index))
        {
            return;
        }

        if (pr.State == ReplicationState.Probe)
        {
            pr.BecomeReplicate();
        }
        else
        {
            pr.Inflights.FreeUpTo(m.Index);
        }

        if (MaybeCommit())
        {
            BroadcastAppend();
        }
        else if (wasPaused)
        {
            SendAppend(m.From, pr, sendIfEmpty: false);
        }

        SendWhileWindowOpen(m.From, pr);
        if (m.From == _leadTransferee && pr.Match == _log.LastIndex)
        {
            Send(new Message { Kind = MessageKind.TimeoutNow, To = m.From, Term = _term });
        }
    }

    private void SendWhileWindowOpen(ulong to, Progress pr)
    {
        // Bounded by the in-flight window: each send adds one message to it.
        for (int sent = 0; sent < _config.MaxInflightMessages; sent++)
        {
            if (!SendAppend(to, pr, sendIfEmpty: false))
            {
                return;
            }
        }
    }

    private void HandleHeartbeatResponse(in Message m, Progress pr)
    {
        pr.ProbeSent = false;
        if (m.Reject && m.RejectHint < pr.Match)
        {
            // The follower lost entries it had acknowledged (its disk was replaced): replicate from
            // what it still holds. Commit never moves back; the follower counts again once it has caught up.
            pr.Match = m.RejectHint;
            pr.BecomeProbe();
        }

        if (pr.Match < _log.LastIndex)
        {
            SendAppend(m.From, pr, sendIfEmpty: false);
        }

        if (m.Context != 0 && m.Context > pr.ReadAckRound)
        {
            pr.ReadAckRound = m.Context;
            ReleaseConfirmedReads();
        }
    }

    /// <summary>
    /// Sends entries from the follower's Next on, within flow-control limits. False when nothing was sent.
    /// </summary>
    private bool SendAppend(ulong to, Progress pr, bool sendIfEmpty)
    {
        if (pr.IsPaused)
        {
            return false;
        }

        ulong prevIndex = pr.Next - 1;
        ulong prevTerm = _log.Term(prevIndex);
        ulong last = _log.LastIndex;
        ulong maxBytes = pr.State == ReplicationState.Probe ? Math.Min(_config.MaxProbeBytes, _config.MaxMessageBytes) : _config.MaxMessageBytes;
        ReadOnlyMemory<Entry> entries = pr.Next <= last
            ? _log.Slice(pr.Next, last + 1, _config.MaxEntriesPerMessage, maxBytes)
            : ReadOnlyMemory<Entry>.Empty;
        if (entries.IsEmpty && !sendIfEmpty)
        {
            return false;
        }

        var message = new Message { Kind = MessageKind.Append, To = to, Term = _term, Index = prevIndex, LogTerm = prevTerm, Entries = entries, Commit = _log.Committed };
        Send(message);
        if (pr.State == ReplicationState.Replicate && !entries.IsEmpty)
        {
            ulong lastSent = entries.Span[^1].Index;
            pr.Next = lastSent + 1;
            pr.Inflights.Add(lastSent, message.EntriesSizeBytes);
        }
        else if (pr.State == ReplicationState.Probe)
        {
            pr.ProbeSent = true;
        }

        return true;
    }

    private void BroadcastAppend()
    {
        _broadcastPending = false;
        foreach (KeyValuePair<ulong, Progress> peer in _progress)
        {
            if (peer.Key != _config.NodeId)
            {
                SendAppend(peer.Key, peer.Value, sendIfEmpty: true);
            }
        }
    }

    private void FlushProposals()
    {
        if (!_broadcastPending)
        {
            return;
        }

        _broadcastPending = false;
        foreach (KeyValuePair<ulong, Progress> peer in _progress)
        {
            if (peer.Key != _config.NodeId)
            {
                SendWhileWindowOpen(peer.Key, peer.Value);
            }
        }
    }

    private void BroadcastHeartbeat(ulong context)
    {
        foreach (KeyValuePair<ulong, Progress> peer in _progress)
        {
            if (peer.Key != _config.NodeId)
            {
                ulong commit = Math.Min(peer.Value.Match, _log.Committed);
                Send(new Message { Kind = MessageKind.Heartbeat, To = peer.Key, Term = _term, Commit = commit, Context = context });
            }
        }
    }

    /// <summary>
    /// Advances commit to the highest index a quorum of voters holds durably, but only when that entry
    /// is of the current term (§5.4.2: entries of earlier terms are committed only indirectly).
    /// </summary>
    private bool MaybeCommit()
    {
        ulong[] voters = Membership.VoterArray;
        Span<ulong> matches = _matchScratch.AsSpan(0, voters.Length);
        for (int i = 0; i < voters.Length; i++)
        {
            matches[i] = voters[i] == _config.NodeId
                ? _log.DurableLastIndex
                : (_progress.TryGetValue(voters[i], out Progress? pr) ? pr.Match : 0);
        }

        matches.Sort();
        ulong quorumIndex = matches[voters.Length - Membership.QuorumSize];
        if (quorumIndex <= _log.Committed || _log.Term(quorumIndex) != _term)
        {
            return false;
        }

        ReleaseUncommittedBytes(_log.Committed + 1, quorumIndex);
        _log.CommitTo(quorumIndex);
        PruneMembershipHistory();
        return true;
    }

    private void ReleaseUncommittedBytes(ulong from, ulong to)
    {
        if (_uncommittedBytes == 0)
        {
            return;
        }

        for (ulong index = from; index <= to && _uncommittedBytes > 0; index++)
        {
            // Entries from earlier terms were never counted; the clamp keeps the sum honest.
            ulong size = (ulong)EntryAt(index).Data.Length;
            _uncommittedBytes = size >= _uncommittedBytes ? 0 : _uncommittedBytes - size;
        }
    }

    private Entry EntryAt(ulong index) => _log.Slice(index, index + 1, 1, ulong.MaxValue).Span[0];
}
