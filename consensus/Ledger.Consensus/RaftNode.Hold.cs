namespace Ledger.Consensus;

/// <summary>
/// Holding votes: a node that may have lost its durable state (restarted on an empty disk under the
/// same identity) must not vote as if it had not. Its lost state held votes it cast and entries it
/// acknowledged: voting at once could give a second vote in a term, or elect a leader that lacks an
/// entry committed with a lost acknowledgement.
///
/// While held it does not campaign, and it votes only once every other voter has told it, since it
/// started holding, its current term and its log's last entry (<see cref="ObservePeerState"/>). Each
/// voter's first answer bounds what existed when the hold began: its term is at least any term that
/// voter had seen, and its log holds whatever that voter held of the committed entries.
/// <list type="bullet">
/// <item>It abstains in every term up to the highest it heard of, which is at least every term its lost
/// state could have voted in.</item>
/// <item>It votes only for a candidate whose log is at least as up to date as each first answer's. An
/// entry committed before it lost its state is held by some other voter, and a log at least as up to
/// date as one holding a committed entry holds it too (the argument of Raft's election restriction).</item>
/// </list>
/// It stops holding, and votes and campaigns as usual from the next term on, once it has heard from
/// every other voter and either its own log is at least as up to date as each first answer's, or it
/// holds an entry that a leader committed in that leader's own term, a term above every first
/// answer's (by leader completeness that leader holds every entry committed before the hold began,
/// and the log matching property gives this node the same prefix). It accepts and acknowledges
/// entries throughout: those acknowledgements are durable again.
/// </summary>
public sealed partial class RaftNode
{
    private readonly Dictionary<ulong, PeerReport> _heardWhileHeld = [];
    private bool _votesHeld;
    private ulong _heldLeaderCommitTerm;

    /// <summary>True while this node holds its votes (<see cref="HoldVotes"/>).</summary>
    public bool VotesHeld => _votesHeld;

    /// <summary>Term of the last entry in the log.</summary>
    public ulong LastTerm => _log.LastTerm;

    /// <summary>
    /// Starts holding votes: called by the host right after construction when this node's durable state
    /// may have been lost (its store was created empty and has not released the hold since).
    /// </summary>
    public void HoldVotes()
    {
        RequireNoOutstandingReady();
        Invariant.Check(Role != RaftRole.Leader, "a leader cannot start holding its votes");
        _votesHeld = true;
        _heldLeaderCommitTerm = 0;
        _heardWhileHeld.Clear();
        if (Role != RaftRole.Follower)
        {
            BecomeFollower(_term, 0);
        }
    }

    /// <summary>
    /// What voter <paramref name="peer"/> answered, after this node started holding its votes, when asked
    /// for its current term and its log's last index and term. Ignored unless votes are held.
    /// </summary>
    public void ObservePeerState(ulong peer, ulong term, ulong lastIndex, ulong lastTerm)
    {
        RequireNoOutstandingReady();
        if (!_votesHeld || peer == _config.NodeId || !Membership.IsVoter(peer))
        {
            return;
        }

        _heardWhileHeld[peer] = _heardWhileHeld.TryGetValue(peer, out PeerReport first)
            ? first with { HighestTerm = Math.Max(first.HighestTerm, term) }
            : new PeerReport(term, lastIndex, lastTerm, term);
        TryReleaseVotes();
    }

    /// <summary>While held: may this node grant the (pre-)vote request <paramref name="m"/>?</summary>
    private bool HeldVoteAllows(in Message m) =>
        HeardFromEveryVoter(out ulong highestTerm, out _, out PeerReport mostUpToDate)
        && m.Term > highestTerm
        && (m.LogTerm > mostUpToDate.LastTerm || (m.LogTerm == mostUpToDate.LastTerm && m.Index >= mostUpToDate.LastIndex));

    /// <summary>After a leader's append or heartbeat: does this log now hold that leader's commit in its own term?</summary>
    private void NoteCommitWhileHeld()
    {
        if (!_votesHeld)
        {
            return;
        }

        if (Role == RaftRole.Follower && _leaderId != 0 && _log.Committed > 0 && _log.Term(_log.Committed) == _term)
        {
            _heldLeaderCommitTerm = _term;
        }

        TryReleaseVotes();
    }

    /// <summary>
    /// True when every other voter answered; then the highest term heard of, the highest term of the
    /// first answers, and the most up to date log among the first answers.
    /// </summary>
    private bool HeardFromEveryVoter(out ulong highestTerm, out ulong highestFirstTerm, out PeerReport mostUpToDate)
    {
        highestTerm = 0;
        highestFirstTerm = 0;
        mostUpToDate = default;
        foreach (ulong voter in Membership.VoterArray)
        {
            if (voter == _config.NodeId)
            {
                continue;
            }

            if (!_heardWhileHeld.TryGetValue(voter, out PeerReport heard))
            {
                return false;
            }

            highestTerm = Math.Max(highestTerm, heard.HighestTerm);
            highestFirstTerm = Math.Max(highestFirstTerm, heard.Term);
            if (heard.LastTerm > mostUpToDate.LastTerm || (heard.LastTerm == mostUpToDate.LastTerm && heard.LastIndex > mostUpToDate.LastIndex))
            {
                mostUpToDate = heard;
            }
        }

        return true;
    }

    private void TryReleaseVotes()
    {
        if (!HeardFromEveryVoter(out ulong highest, out ulong highestFirst, out PeerReport mostUpToDate))
        {
            return;
        }

        bool ownLogUpToDate = _log.LastTerm > mostUpToDate.LastTerm
            || (_log.LastTerm == mostUpToDate.LastTerm && _log.LastIndex >= mostUpToDate.LastIndex);
        if (!ownLogUpToDate && _heldLeaderCommitTerm <= highestFirst)
        {
            return;
        }

        _votesHeld = false;
        _heardWhileHeld.Clear();
        if (highest > _term)
        {
            BecomeFollower(highest, 0);
        }

        if (highest == _term && _vote == 0)
        {
            // Abstain in the highest term heard of: the lost state may have voted in it. The vote for
            // itself is stored with the hard state like any other.
            _vote = _config.NodeId;
        }
    }

    /// <summary>A voter's first answer (its term and last log entry then) and the highest term it reported since.</summary>
    private readonly record struct PeerReport(ulong Term, ulong LastIndex, ulong LastTerm, ulong HighestTerm);
}
