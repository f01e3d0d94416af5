namespace Ledger.Consensus;

/// <summary>
/// One Raft participant as a pure state machine: no I/O, no threads, no clock. The host drives it with
/// <see cref="Tick"/>, <see cref="Step"/> and proposals, then drains work with <see cref="Ready"/> and
/// reports it done (and durable) with <see cref="Advance"/>. Not thread-safe: call it from one loop.
/// Between <see cref="Ready"/> and <see cref="Advance"/> only <see cref="Advance"/> may be called.
/// </summary>
public sealed partial class RaftNode
{
    private readonly RaftConfig _config;
    private readonly IRaftRandom _random;
    private readonly RaftLog _log;
    private readonly Dictionary<ulong, Progress> _progress = [];
    private readonly Dictionary<ulong, bool> _votes = [];
    private readonly List<(ulong Index, Membership Membership)> _membershipHistory = [];
    private readonly ulong[] _matchScratch = new ulong[Membership.MembersMax];
    private readonly Ready _ready = new();
    private List<Message> _messages = [];
    private List<Message> _messagesAfterPersist = [];

    private ulong _term;
    private ulong _vote;
    private ulong _leaderId;
    private int _electionElapsedTicks;
    private int _heartbeatElapsedTicks;
    private int _randomizedElectionTimeoutTicks;
    private ulong _leadTransferee;
    private ulong _pendingMembershipIndex;
    private ulong _uncommittedBytes;
    private bool _broadcastPending;
    private bool _readyOutstanding;
    private HardState _persistedHardState;
    private ulong _readyLastEntryIndex;
    private ulong _readyLastCommittedIndex;

    /// <summary>
    /// Starts (or restarts) a node from what <paramref name="storage"/> holds. <paramref name="appliedIndex"/>
    /// is the last index the host's state machine has durably applied; entries after it are delivered again.
    /// </summary>
    public RaftNode(RaftConfig config, IRaftStorage storage, IRaftRandom random, ulong appliedIndex = 0)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(storage);
        ArgumentNullException.ThrowIfNull(random);
        config.Validate();
        _config = config;
        _random = random;
        RaftInitialState initial = storage.InitialState;
        _log = new RaftLog(storage, initial.HardState.Commit, appliedIndex);
        _term = initial.HardState.Term;
        _vote = initial.HardState.Vote;
        _persistedHardState = initial.HardState;
        RebuildMembershipHistory(storage, initial.GenesisMembership);
        BecomeFollower(_term, 0);
    }

    /// <summary>This node's id.</summary>
    public ulong Id => _config.NodeId;

    /// <summary>Current term.</summary>
    public ulong Term => _term;

    /// <summary>Vote cast in the current term, 0 for none.</summary>
    public ulong Vote => _vote;

    /// <summary>Current role.</summary>
    public RaftRole Role { get; private set; }

    /// <summary>Known leader of the current term, 0 when unknown.</summary>
    public ulong LeaderId => _leaderId;

    /// <summary>Highest index known committed.</summary>
    public ulong CommitIndex => _log.Committed;

    /// <summary>Highest index handed to the host for applying and acknowledged by <see cref="Advance"/>.</summary>
    public ulong AppliedIndex => _log.Applied;

    /// <summary>Last index of the log, durable or not.</summary>
    public ulong LastIndex => _log.LastIndex;

    /// <summary>Last index of the log that the host reported durable.</summary>
    public ulong DurableLastIndex => _log.DurableLastIndex;

    /// <summary>The membership in effect: the latest one in the log, committed or not (dissertation §4.1).</summary>
    public Membership Membership => _membershipHistory[^1].Membership;

    /// <summary>The node being handed leadership, 0 when none.</summary>
    public ulong LeadTransferee => _leadTransferee;

    internal RaftConfig Config => _config;

    /// <summary>Index of the entry that set the current membership (0 for genesis).</summary>
    internal ulong MembershipIndex => _membershipHistory[^1].Index;

    internal RaftLog Log => _log;

    internal Progress? ProgressOf(ulong nodeId) => _progress.GetValueOrDefault(nodeId);

    /// <summary>
    /// On a leader, the highest log index known to be durable on each other member (its match
    /// index), written into <paramref name="matchIndexByMember"/>; on any other node, nothing.
    /// </summary>
    public void CopyMatchIndices(Dictionary<ulong, ulong> matchIndexByMember)
    {
        ArgumentNullException.ThrowIfNull(matchIndexByMember);
        matchIndexByMember.Clear();
        if (Role != RaftRole.Leader)
        {
            return;
        }

        foreach (KeyValuePair<ulong, Progress> peer in _progress)
        {
            if (peer.Key != _config.NodeId)
            {
                matchIndexByMember[peer.Key] = peer.Value.Match;
            }
        }
    }

    private bool IsPromotable => Membership.IsVoter(_config.NodeId);

    private HardState CurrentHardState => new(_term, _vote, _log.Committed);

    /// <summary>Advances logical time by one tick.</summary>
    public void Tick()
    {
        RequireNoOutstandingReady();
        if (Role == RaftRole.Leader)
        {
            TickLeader();
        }
        else
        {
            TickElection();
        }
    }

    /// <summary>Starts an election now (PreVote first when enabled), e.g. to bootstrap a cluster quickly.</summary>
    public void Campaign()
    {
        RequireNoOutstandingReady();
        if (Role != RaftRole.Leader)
        {
            StartElection(leaderTransfer: false);
        }
    }

    private void TickElection()
    {
        _electionElapsedTicks++;
        if (IsPromotable && !_votesHeld && _electionElapsedTicks >= _randomizedElectionTimeoutTicks)
        {
            _electionElapsedTicks = 0;
            StartElection(leaderTransfer: false);
        }
    }

    private void TickLeader()
    {
        _heartbeatElapsedTicks++;
        _electionElapsedTicks++;
        if (_electionElapsedTicks >= _config.ElectionTimeoutTicks)
        {
            _electionElapsedTicks = 0;
            if (_config.CheckQuorum && !CheckQuorumActive())
            {
                BecomeFollower(_term, 0);
                return;
            }

            _leadTransferee = 0; // a transfer that did not finish within an election timeout is abandoned
            RestartStalledReplication();
        }

        if (_heartbeatElapsedTicks >= _config.HeartbeatTicks)
        {
            _heartbeatElapsedTicks = 0;
            BroadcastHeartbeat(_readRound);
        }
    }

    private bool CheckQuorumActive()
    {
        int active = 0;
        foreach (ulong voter in Membership.VoterArray)
        {
            if (voter == _config.NodeId || (_progress.TryGetValue(voter, out Progress? pr) && pr.RecentActive))
            {
                active++;
            }
        }

        foreach (Progress pr in _progress.Values)
        {
            pr.RecentActive = false;
        }

        return active >= Membership.QuorumSize;
    }

    /// <summary>
    /// Retransmission: a follower in the replicate state whose match has not moved for an election
    /// timeout while entries are outstanding lost messages (or its unsynced tail); probe it again.
    /// </summary>
    private void RestartStalledReplication()
    {
        ulong last = _log.LastIndex;
        foreach (KeyValuePair<ulong, Progress> peer in _progress)
        {
            Progress pr = peer.Value;
            if (peer.Key != _config.NodeId && pr.State == ReplicationState.Replicate && pr.Match < last && pr.Match == pr.MatchAtLastCheck)
            {
                pr.BecomeProbe();
            }

            pr.MatchAtLastCheck = pr.Match;
        }
    }

    private void ResetElectionTimer()
    {
        _electionElapsedTicks = 0;
        _heartbeatElapsedTicks = 0;
        _randomizedElectionTimeoutTicks = _config.ElectionTimeoutTicks + _random.NextInt(_config.ElectionTimeoutTicks);
    }

    private void BecomeFollower(ulong term, ulong leaderId)
    {
        if (term != _term)
        {
            Invariant.Check(term > _term, $"term went back from {_term} to {term}");
            _term = term;
            _vote = 0;
        }

        Role = RaftRole.Follower;
        _leaderId = leaderId;
        ResetLeaderState();
        ResetElectionTimer();
    }

    private void ResetLeaderState()
    {
        _leadTransferee = 0;
        _uncommittedBytes = 0;
        _broadcastPending = false;
        _pendingReads.Clear();
        _votes.Clear();
    }

    private void StartElection(bool leaderTransfer)
    {
        if (!IsPromotable || _votesHeld)
        {
            return;
        }

        if (_config.PreVote && !leaderTransfer)
        {
            Role = RaftRole.PreCandidate;
            _leaderId = 0;
            ResetLeaderState();
            ResetElectionTimer();
            RequestVotes(MessageKind.PreVote, _term + 1, leaderTransfer: false);
            return;
        }

        BecomeCandidate(leaderTransfer);
    }

    private void BecomeCandidate(bool leaderTransfer)
    {
        BecomeFollower(_term + 1, 0);
        Role = RaftRole.Candidate;
        _vote = _config.NodeId;
        RequestVotes(MessageKind.Vote, _term, leaderTransfer);
    }

    private void RequestVotes(MessageKind kind, ulong term, bool leaderTransfer)
    {
        _votes[_config.NodeId] = true;
        if (TallyVotes() == VoteOutcome.Won)
        {
            OnElectionWon();
            return;
        }

        ulong lastIndex = _log.LastIndex;
        ulong lastTerm = _log.LastTerm;
        foreach (ulong voter in Membership.VoterArray)
        {
            if (voter != _config.NodeId)
            {
                Send(new Message { Kind = kind, To = voter, Term = term, Index = lastIndex, LogTerm = lastTerm, LeaderTransfer = leaderTransfer });
            }
        }
    }

    private enum VoteOutcome
    {
        Pending,
        Won,
        Lost,
    }

    private VoteOutcome TallyVotes()
    {
        int granted = 0;
        int rejected = 0;
        foreach (ulong voter in Membership.VoterArray)
        {
            if (_votes.TryGetValue(voter, out bool vote))
            {
                if (vote)
                {
                    granted++;
                }
                else
                {
                    rejected++;
                }
            }
        }

        int quorum = Membership.QuorumSize;
        if (granted >= quorum)
        {
            return VoteOutcome.Won;
        }

        return Membership.VoterArray.Length - rejected < quorum ? VoteOutcome.Lost : VoteOutcome.Pending;
    }

    private void OnElectionWon()
    {
        if (Role == RaftRole.PreCandidate)
        {
            BecomeCandidate(leaderTransfer: false);
        }
        else
        {
            BecomeLeader();
        }
    }

    private void BecomeLeader()
    {
        Invariant.Check(Role == RaftRole.Candidate, "only a candidate becomes leader");
        Role = RaftRole.Leader;
        _leaderId = _config.NodeId;
        ResetLeaderState();
        ResetElectionTimer();
        _readRound = 0;
        ResetProgress();
        // Uncommitted membership changes of earlier terms may still be in the log: no new change
        // until this leader commits an entry of its own term (the single-server change fix).
        _pendingMembershipIndex = _log.LastIndex;
        AppendAsLeader(EntryKind.Empty, ReadOnlyMemory<byte>.Empty);
        BroadcastAppend();
    }

    private void ResetProgress()
    {
        _progress.Clear();
        AddProgressFor(Membership);
    }

    private void AddProgressFor(Membership membership)
    {
        ulong next = _log.LastIndex + 1;
        foreach (ulong id in membership.VoterArray)
        {
            AddProgress(id, next);
        }

        foreach (ulong id in membership.LearnerArray)
        {
            AddProgress(id, next);
        }
    }

    private void AddProgress(ulong id, ulong next)
    {
        if (_progress.ContainsKey(id))
        {
            return;
        }

        var progress = new Progress(_config.MaxInflightMessages, _config.MaxInflightBytes);
        progress.Reset(next);
        progress.RecentActive = true;
        if (id == _config.NodeId)
        {
            progress.Match = _log.DurableLastIndex;
        }

        _progress[id] = progress;
    }

    private void Send(Message message)
    {
        message = message with { From = _config.NodeId };
        Invariant.Check(message.To != 0 && message.To != _config.NodeId, $"message to {message.To} from {_config.NodeId}");
        if (message.Kind is MessageKind.Append or MessageKind.Heartbeat or MessageKind.TimeoutNow)
        {
            _messages.Add(message);
        }
        else
        {
            // Votes and acknowledgements promise state that must be durable first.
            _messagesAfterPersist.Add(message);
        }
    }

    private void RequireNoOutstandingReady() =>
        Invariant.Check(!_readyOutstanding, "call Advance before stepping the node again");
}
