namespace Ledger.Consensus;

/// <summary>
/// Holding votes: a node that may have lost its durable state (restarted on an empty disk under the
/// same identity) neither votes nor campaigns until it is safe again. Its lost state held votes it
/// cast and entries it acknowledged; voting at once could give a second vote in a term, or elect a
/// leader that lacks an entry committed with its lost acknowledgement.
///
/// It votes again once both hold:
/// <list type="number">
/// <item>every other voter told it its term and log length (<see cref="ObservePeerState"/>, asked by the
/// host after this node started); it abstains in the highest of those terms, which is at least every
/// term its lost state could have voted in;</item>
/// <item>either every one of those logs was empty, so nothing was ever committed, or its own log holds
/// an entry that a leader committed in that leader's own term, which by leader completeness follows
/// every entry committed before.</item>
/// </list>
/// It accepts and acknowledges entries meanwhile: those acknowledgements are durable again.
/// </summary>
public sealed partial class RaftNode
{
    private readonly Dictionary<ulong, (ulong Term, ulong LastIndex)> _heardWhileHeld = [];
    private bool _votesHeld;
    private bool _heldLogCaughtUp;

    /// <summary>True while this node holds its votes (<see cref="HoldVotes"/>).</summary>
    public bool VotesHeld => _votesHeld;

    /// <summary>
    /// Starts holding votes: called by the host right after construction when this node's durable state
    /// may have been lost (its store was created empty and has not released the hold since).
    /// </summary>
    public void HoldVotes()
    {
        RequireNoOutstandingReady();
        Invariant.Check(Role != RaftRole.Leader, "a leader cannot start holding its votes");
        _votesHeld = true;
        _heldLogCaughtUp = false;
        _heardWhileHeld.Clear();
        if (Role != RaftRole.Follower)
        {
            BecomeFollower(_term, 0);
        }
    }

    /// <summary>
    /// What voter <paramref name="peer"/> answered, after this node started, when asked for its current
    /// term and last log index. Ignored unless votes are held.
    /// </summary>
    public void ObservePeerState(ulong peer, ulong term, ulong lastIndex)
    {
        RequireNoOutstandingReady();
        if (!_votesHeld || peer == _config.NodeId || !Membership.IsVoter(peer))
        {
            return;
        }

        ulong highest = _heardWhileHeld.TryGetValue(peer, out (ulong Term, ulong LastIndex) before) ? Math.Max(before.Term, term) : term;
        _heardWhileHeld[peer] = (highest, lastIndex);
        TryReleaseVotes();
    }

    /// <summary>After a leader's append or heartbeat: does this log now hold that leader's commit in its own term?</summary>
    private void NoteCommitWhileHeld()
    {
        if (!_votesHeld)
        {
            return;
        }

        if (Role == RaftRole.Follower && _leaderId != 0 && _log.Committed > 0 && _log.Term(_log.Committed) == _term)
        {
            _heldLogCaughtUp = true;
        }

        TryReleaseVotes();
    }

    private void TryReleaseVotes()
    {
        ulong highest = 0;
        bool allEmpty = true;
        foreach (ulong voter in Membership.VoterArray)
        {
            if (voter == _config.NodeId)
            {
                continue;
            }

            if (!_heardWhileHeld.TryGetValue(voter, out (ulong Term, ulong LastIndex) heard))
            {
                return;
            }

            highest = Math.Max(highest, heard.Term);
            allEmpty &= heard.LastIndex == 0;
        }

        if (!allEmpty && !_heldLogCaughtUp)
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
}
