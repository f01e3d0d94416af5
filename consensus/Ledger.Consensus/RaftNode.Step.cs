namespace Ledger.Consensus;

public sealed partial class RaftNode
{
    /// <summary>Feeds a message received from a peer. Messages for another node, or from the node itself, are invalid.</summary>
    public void Step(in Message message)
    {
        RequireNoOutstandingReady();
        if (message.To != _config.NodeId || message.From == 0 || message.From == _config.NodeId)
        {
            throw new ArgumentException($"message {message.Kind} from {message.From} to {message.To} delivered to {_config.NodeId}");
        }

        if (!StepTerm(message))
        {
            return;
        }

        switch (message.Kind)
        {
            case MessageKind.Vote:
            case MessageKind.PreVote:
                HandleVoteRequest(message);
                return;
            default:
                break;
        }

        switch (Role)
        {
            case RaftRole.Leader:
                StepLeader(message);
                break;
            case RaftRole.Candidate:
            case RaftRole.PreCandidate:
                StepCandidate(message);
                break;
            default:
                StepFollower(message);
                break;
        }
    }

    /// <summary>Applies the term rules of §5.1; false when the message must go no further.</summary>
    private bool StepTerm(in Message m)
    {
        if (m.Term > _term)
        {
            return StepHigherTerm(m);
        }

        if (m.Term < _term)
        {
            StepLowerTerm(m);
            return false;
        }

        return true;
    }

    private bool StepHigherTerm(in Message m)
    {
        if (m.Kind is MessageKind.Vote or MessageKind.PreVote)
        {
            // Leader lease: while we hear from a leader, ignore disruptive campaigns (dissertation §4.2.3).
            bool inLease = _config.CheckQuorum && _leaderId != 0 && _electionElapsedTicks < _config.ElectionTimeoutTicks;
            if (inLease && !m.LeaderTransfer)
            {
                return false;
            }
        }

        if (m.Kind == MessageKind.PreVote || (m.Kind == MessageKind.PreVoteResponse && !m.Reject))
        {
            // A PreVote is for a future term: it moves nobody's term (dissertation §9.6).
            return true;
        }

        bool fromLeader = m.Kind is MessageKind.Append or MessageKind.Heartbeat;
        BecomeFollower(m.Term, fromLeader ? m.From : 0);
        return true;
    }

    private void StepLowerTerm(in Message m)
    {
        if ((_config.CheckQuorum || _config.PreVote) && m.Kind is MessageKind.Append or MessageKind.Heartbeat)
        {
            // A stale leader: tell it our term so that it steps down.
            Send(new Message { Kind = MessageKind.AppendResponse, To = m.From, Term = _term });
        }
        else if (m.Kind == MessageKind.PreVote)
        {
            Send(new Message { Kind = MessageKind.PreVoteResponse, To = m.From, Term = _term, Reject = true });
        }
    }

    private void HandleVoteRequest(in Message m)
    {
        bool isPre = m.Kind == MessageKind.PreVote;
        // §5.2: one vote per term, first come first served; §5.4.1: only for an up-to-date log.
        bool canVote = (!_votesHeld || HeldVoteAllows(m)) && (_vote == m.From
            || (_vote == 0 && _leaderId == 0)
            || (isPre && m.Term > _term));
        MessageKind responseKind = isPre ? MessageKind.PreVoteResponse : MessageKind.VoteResponse;
        if (canVote && _log.IsUpToDate(m.Index, m.LogTerm))
        {
            Send(new Message { Kind = responseKind, To = m.From, Term = m.Term });
            if (!isPre)
            {
                _electionElapsedTicks = 0;
                _vote = m.From;
            }

            return;
        }

        Send(new Message { Kind = responseKind, To = m.From, Term = _term, Reject = true });
    }

    private void StepFollower(in Message m)
    {
        switch (m.Kind)
        {
            case MessageKind.Append:
                _electionElapsedTicks = 0;
                _leaderId = m.From;
                HandleAppend(m);
                break;
            case MessageKind.Heartbeat:
                _electionElapsedTicks = 0;
                _leaderId = m.From;
                HandleHeartbeat(m);
                break;
            case MessageKind.TimeoutNow when !_votesHeld:
                // Dissertation §3.10: the target campaigns at once, skipping PreVote, overriding leases.
                StartElection(leaderTransfer: true);
                break;
            default:
                break;
        }
    }

    private void StepCandidate(in Message m)
    {
        switch (m.Kind)
        {
            case MessageKind.Append:
                BecomeFollower(m.Term, m.From);
                HandleAppend(m);
                break;
            case MessageKind.Heartbeat:
                BecomeFollower(m.Term, m.From);
                HandleHeartbeat(m);
                break;
            case MessageKind.VoteResponse when Role == RaftRole.Candidate:
            case MessageKind.PreVoteResponse when Role == RaftRole.PreCandidate:
                HandleVoteResponse(m);
                break;
            default:
                break;
        }
    }

    private void HandleVoteResponse(in Message m)
    {
        if (!_votes.ContainsKey(m.From))
        {
            _votes[m.From] = !m.Reject;
        }

        switch (TallyVotes())
        {
            case VoteOutcome.Won:
                OnElectionWon();
                break;
            case VoteOutcome.Lost:
                BecomeFollower(_term, 0);
                break;
            default:
                break;
        }
    }

    private void HandleAppend(in Message m)
    {
        if (m.Index < _log.Committed)
        {
            Send(new Message { Kind = MessageKind.AppendResponse, To = m.From, Term = _term, Index = _log.Committed });
            return;
        }

        // §5.3 consistency check: our log must hold (Index, LogTerm).
        if (_log.MatchTerm(m.Index, m.LogTerm))
        {
            ReadOnlySpan<Entry> entries = m.Entries.Span;
            ulong lastNewIndex = m.Index + (ulong)entries.Length;
            ulong conflict = _log.FindConflict(entries);
            if (conflict != 0)
            {
                ReadOnlySpan<Entry> fresh = entries[(int)(conflict - m.Index - 1)..];
                TruncateMembershipHistory(conflict);
                _log.Append(fresh);
                TrackMembershipEntries(fresh);
            }

            CommitAsFollower(Math.Min(m.Commit, lastNewIndex));
            NoteCommitWhileHeld();
            Send(new Message { Kind = MessageKind.AppendResponse, To = m.From, Term = _term, Index = lastNewIndex });
            return;
        }

        // Fast backtracking: tell the leader where our log may still match.
        ulong hintIndex = _log.FindConflictByTerm(Math.Min(m.Index, _log.LastIndex), m.LogTerm);
        ulong hintTerm = _log.Term(hintIndex);
        Send(new Message { Kind = MessageKind.AppendResponse, To = m.From, Term = _term, Index = m.Index, Reject = true, RejectHint = hintIndex, LogTerm = hintTerm });
    }

    private void HandleHeartbeat(in Message m)
    {
        // The leader sends min(commit, our match), so this never commits past what we hold from it.
        CommitAsFollower(Math.Min(m.Commit, _log.LastIndex));
        NoteCommitWhileHeld();

        // A commit beyond our log means we lost entries we once acknowledged (a member restarted on
        // an empty disk): say how far our log goes, so that the leader sends the rest again.
        bool lostEntries = m.Commit > _log.LastIndex;
        Send(new Message
        {
            Kind = MessageKind.HeartbeatResponse,
            To = m.From,
            Term = _term,
            Context = m.Context,
            Reject = lostEntries,
            RejectHint = lostEntries ? _log.LastIndex : 0,
        });
    }

    private void CommitAsFollower(ulong index)
    {
        _log.CommitTo(index);
        PruneMembershipHistory();
    }
}
