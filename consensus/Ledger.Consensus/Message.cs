namespace Ledger.Consensus;

/// <summary>The kinds of Raft messages exchanged between nodes.</summary>
public enum MessageKind : byte
{
    /// <summary>Leader to follower: entries after (Index, LogTerm), plus the leader's commit (AppendEntries, §5.3).</summary>
    Append = 1,

    /// <summary>Follower to leader: accepted up to Index, or rejected with a hint (RejectHint, LogTerm).</summary>
    AppendResponse = 2,

    /// <summary>Candidate to voter: RequestVote with the candidate's last (Index, LogTerm) (§5.2, §5.4.1).</summary>
    Vote = 3,

    /// <summary>Voter to candidate: granted unless Reject.</summary>
    VoteResponse = 4,

    /// <summary>Would-be candidate to voter, for Term + 1, without changing anyone's term (dissertation §9.6).</summary>
    PreVote = 5,

    /// <summary>Answer to PreVote.</summary>
    PreVoteResponse = 6,

    /// <summary>Leader to follower: keeps authority, carries commit and a ReadIndex Context.</summary>
    Heartbeat = 7,

    /// <summary>Follower to leader: echoes the heartbeat Context.</summary>
    HeartbeatResponse = 8,

    /// <summary>Leader to transfer target: campaign now (dissertation §3.10).</summary>
    TimeoutNow = 9,
}

/// <summary>
/// A Raft message. A value type so that the steady-state path allocates no message objects. Entries
/// reference the sender's immutable log memory and must be treated as read-only by everyone.
/// </summary>
public readonly record struct Message
{
    /// <summary>What the message is.</summary>
    public MessageKind Kind { get; init; }

    /// <summary>Sender id.</summary>
    public ulong From { get; init; }

    /// <summary>Receiver id.</summary>
    public ulong To { get; init; }

    /// <summary>Sender's term (for PreVote, the term the sender would campaign in).</summary>
    public ulong Term { get; init; }

    /// <summary>Append: index before the entries. Vote/PreVote: candidate's last index. AppendResponse: accepted or rejected index.</summary>
    public ulong Index { get; init; }

    /// <summary>Append: term at Index. Vote/PreVote: candidate's last term. Rejected AppendResponse: term at RejectHint.</summary>
    public ulong LogTerm { get; init; }

    /// <summary>Rejected AppendResponse: the highest index at which the follower's log may still match.</summary>
    public ulong RejectHint { get; init; }

    /// <summary>Leader's commit index (Append, Heartbeat).</summary>
    public ulong Commit { get; init; }

    /// <summary>Heartbeat and its response: ReadIndex round number, 0 for none.</summary>
    public ulong Context { get; init; }

    /// <summary>Responses: true when refused.</summary>
    public bool Reject { get; init; }

    /// <summary>Vote: set when the campaign was started by TimeoutNow, which overrides the leader lease.</summary>
    public bool LeaderTransfer { get; init; }

    /// <summary>Append: the entries, at Index + 1 onwards.</summary>
    public ReadOnlyMemory<Entry> Entries { get; init; }

    /// <summary>Sum of <see cref="Entry.SizeBytes"/> over <see cref="Entries"/>.</summary>
    public ulong EntriesSizeBytes
    {
        get
        {
            ulong total = 0;
            foreach (ref readonly Entry entry in Entries.Span)
            {
                total += entry.SizeBytes;
            }

            return total;
        }
    }
}
