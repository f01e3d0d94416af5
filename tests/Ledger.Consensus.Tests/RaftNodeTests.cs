using System.Text;
using Ledger.Consensus;

namespace Ledger.Consensus.Tests;

/// <summary>Unit tests of single-node behaviour; each cites the Raft paper section it checks.</summary>
public sealed class RaftNodeTests
{
    private static RaftNode NewNode(ulong id, MemoryRaftStorage storage, bool preVote = false, bool checkQuorum = false) =>
        new(new RaftConfig { NodeId = id, PreVote = preVote, CheckQuorum = checkQuorum, MaxUncommittedBytes = 64, MaxEntryBytes = 32, MaxPendingReads = 2 }, storage, new SplitMix64Random(id));

    private static MemoryRaftStorage Storage(params ulong[] voters) => new(new Membership(voters));

    /// <summary>Runs a Ready through a trivial host: persist, collect messages, advance.</summary>
    private static List<Message> Drain(RaftNode node, MemoryRaftStorage storage)
    {
        var sent = new List<Message>();
        while (node.HasReady())
        {
            Ready ready = node.Ready();
            sent.AddRange(ready.Messages.ToArray());
            storage.Append(ready.Entries.Span);
            if (ready.HardState is { } hs)
            {
                storage.SetHardState(hs);
            }

            sent.AddRange(ready.MessagesAfterPersist.ToArray());
            node.Advance();
        }

        return sent;
    }

    private static RaftNode ElectedSingleVoter(MemoryRaftStorage storage)
    {
        RaftNode node = NewNode(1, storage);
        node.Campaign();
        Drain(node, storage);
        Assert.Equal(RaftRole.Leader, node.Role);
        return node;
    }

    private static Message VoteRequest(ulong from, ulong to, ulong term, ulong lastIndex, ulong lastTerm) =>
        new() { Kind = MessageKind.Vote, From = from, To = to, Term = term, Index = lastIndex, LogTerm = lastTerm };

    [Fact]
    public void Section_5_2_a_voter_grants_at_most_one_vote_per_term()
    {
        MemoryRaftStorage storage = Storage(1, 2, 3);
        RaftNode node = NewNode(1, storage);
        node.Step(VoteRequest(2, 1, 1, 0, 0));
        node.Step(VoteRequest(3, 1, 1, 0, 0));
        Message[] responses = [.. Drain(node, storage).Where(m => m.Kind == MessageKind.VoteResponse)];
        Assert.False(responses.Single(m => m.To == 2).Reject);
        Assert.True(responses.Single(m => m.To == 3).Reject);
        Assert.Equal(2UL, storage.HardState.Vote);
        node.Step(VoteRequest(2, 1, 1, 0, 0)); // a retransmitted request from the same candidate is granted again
        Assert.False(Drain(node, storage).Single().Reject);
    }

    [Fact]
    public void Section_5_4_1_a_voter_refuses_a_candidate_whose_log_is_less_up_to_date()
    {
        MemoryRaftStorage storage = Storage(1, 2, 3);
        storage.Append([new Entry(1, 1, EntryKind.Empty, default), new Entry(2, 2, EntryKind.Empty, default)]);
        storage.SetHardState(new HardState(2, 0, 0));
        RaftNode node = NewNode(1, storage);
        node.Step(VoteRequest(2, 1, 3, 5, 1)); // longer log, older last term
        node.Step(VoteRequest(3, 1, 4, 1, 2)); // same last term, shorter log
        Assert.All(Drain(node, storage), m => Assert.True(m.Reject));
        node.Step(VoteRequest(2, 1, 5, 2, 2)); // same last term, same length: up to date
        Assert.False(Drain(node, storage).Single().Reject);
    }

    [Fact]
    public void Section_5_1_a_leader_steps_down_on_seeing_a_higher_term()
    {
        MemoryRaftStorage storage = Storage(1);
        RaftNode node = ElectedSingleVoter(storage);
        node.Step(new Message { Kind = MessageKind.AppendResponse, From = 2, To = 1, Term = node.Term + 3 });
        Assert.Equal(RaftRole.Follower, node.Role);
        Assert.Equal(4UL, node.Term);
        Drain(node, storage);
        Assert.Equal(4UL, storage.HardState.Term); // the new term is persisted before anything is answered
    }

    [Fact]
    public void Section_5_3_the_consistency_check_refuses_entries_after_a_missing_or_different_entry_with_a_hint()
    {
        MemoryRaftStorage storage = Storage(1, 2);
        storage.Append([new Entry(1, 1, EntryKind.Empty, default), new Entry(1, 2, EntryKind.Normal, new byte[] { 1 }), new Entry(1, 3, EntryKind.Normal, new byte[] { 2 })]);
        storage.SetHardState(new HardState(1, 0, 1));
        RaftNode node = NewNode(1, storage);
        var append = new Message { Kind = MessageKind.Append, From = 2, To = 1, Term = 3, Index = 5, LogTerm = 3, Entries = new[] { new Entry(3, 6, EntryKind.Normal, new byte[] { 3 }) } };
        node.Step(append);
        Message reject = Drain(node, storage).Single();
        Assert.True(reject.Reject);
        Assert.Equal(3UL, reject.RejectHint); // our last index, whose term (1) is ≤ the leader's 3
        Assert.Equal(1UL, reject.LogTerm);
        Assert.Equal(3UL, node.LastIndex); // nothing appended

        // A matching prefix with a conflicting entry at 3: it and everything after it are replaced.
        node.Step(append with { Index = 2, LogTerm = 1, Entries = new[] { new Entry(3, 3, EntryKind.Normal, new byte[] { 9 }) } });
        Message accept = Drain(node, storage).Single();
        Assert.False(accept.Reject);
        Assert.Equal(3UL, accept.Index);
        Assert.Equal(3UL, storage.Term(3));
    }

    [Fact]
    public void Section_5_4_2_a_leader_never_commits_an_earlier_term_entry_by_counting_replicas()
    {
        // Node 1 holds an entry of term 1 at index 2 and becomes leader of term 3 in a 3-voter cluster.
        MemoryRaftStorage storage = Storage(1, 2, 3);
        storage.Append([new Entry(1, 1, EntryKind.Empty, default), new Entry(1, 2, EntryKind.Normal, new byte[] { 1 })]);
        storage.SetHardState(new HardState(2, 0, 1));
        RaftNode node = NewNode(1, storage);
        node.Campaign();
        Drain(node, storage);
        node.Step(new Message { Kind = MessageKind.VoteResponse, From = 2, To = 1, Term = 3 });
        Assert.Equal(RaftRole.Leader, node.Role);
        Drain(node, storage);
        Assert.Equal(3UL, node.LastIndex); // its empty entry of term 3

        // Follower 2 acknowledges index 2 only: index 2 is on a majority (1 and 2) but of term 1.
        node.Step(new Message { Kind = MessageKind.AppendResponse, From = 2, To = 1, Term = 3, Index = 2 });
        Drain(node, storage);
        Assert.Equal(1UL, node.CommitIndex);

        // Once its own entry (index 3, term 3) is on a majority, both commit.
        node.Step(new Message { Kind = MessageKind.AppendResponse, From = 2, To = 1, Term = 3, Index = 3 });
        Drain(node, storage);
        Assert.Equal(3UL, node.CommitIndex);
    }

    [Fact]
    public void Section_5_2_votes_and_acknowledgements_wait_for_persistence_while_appends_do_not()
    {
        MemoryRaftStorage storage = Storage(1, 2, 3);
        RaftNode follower = NewNode(1, storage);
        follower.Step(VoteRequest(2, 1, 1, 0, 0));
        Ready ready = follower.Ready();
        Assert.True(ready.Messages.IsEmpty);
        Assert.Equal(MessageKind.VoteResponse, ready.MessagesAfterPersist[0].Kind);
        Assert.Equal(new HardState(1, 2, 0), ready.HardState);
        follower.Advance();

        MemoryRaftStorage leaderStorage = Storage(1, 2, 3);
        RaftNode leader = NewNode(1, leaderStorage);
        leader.Campaign();
        Drain(leader, leaderStorage);
        leader.Step(new Message { Kind = MessageKind.VoteResponse, From = 2, To = 1, Term = 1 });
        Ready leaderReady = leader.Ready();
        Assert.False(leaderReady.Entries.IsEmpty);
        Assert.Contains(leaderReady.Messages.ToArray(), m => m.Kind == MessageKind.Append); // replicate while persisting
        leaderStorage.Append(leaderReady.Entries.Span);
        leader.Advance();
    }

    [Fact]
    public void Host_contract_an_entry_counts_toward_commit_only_once_reported_durable()
    {
        MemoryRaftStorage storage = Storage(1);
        RaftNode node = ElectedSingleVoter(storage);
        ulong committed = node.CommitIndex;
        Assert.True(node.Propose(Encoding.ASCII.GetBytes("a")).IsAccepted);
        Ready ready = node.Ready();
        Assert.Equal(committed, node.CommitIndex); // not durable yet, so not committed even alone
        Assert.True(ready.CommittedEntries.IsEmpty);
        storage.Append(ready.Entries.Span);
        node.Advance();
        Assert.Equal(committed + 1, node.CommitIndex);
        Ready next = node.Ready();
        Assert.Equal("a", Encoding.ASCII.GetString(next.CommittedEntries.Span[^1].Data.Span));
        node.Advance();
        Assert.Equal(node.CommitIndex, node.AppliedIndex);
    }

    [Fact]
    public void Host_contract_stepping_between_Ready_and_Advance_is_a_programming_error()
    {
        MemoryRaftStorage storage = Storage(1);
        RaftNode node = ElectedSingleVoter(storage);
        node.Propose(new byte[] { 1 });
        Ready ready = node.Ready();
        Assert.Throws<InvariantException>(() => node.Tick());
        Assert.Throws<InvariantException>(() => node.Propose(new byte[] { 2 }));
        storage.Append(ready.Entries.Span);
        node.Advance();
        Assert.Throws<InvariantException>(() => node.Advance());
    }

    [Fact]
    public void Restart_resumes_after_the_applied_index_the_host_reports()
    {
        MemoryRaftStorage storage = Storage(1);
        RaftNode node = ElectedSingleVoter(storage);
        node.ProposeBatch([new byte[] { 1 }, new byte[] { 2 }]);
        var applied = new List<ulong>();
        while (node.HasReady())
        {
            Ready ready = node.Ready();
            storage.Append(ready.Entries.Span);
            storage.SetHardState(ready.HardState ?? storage.HardState);
            foreach (Entry entry in ready.CommittedEntries.Span)
            {
                applied.Add(entry.Index);
            }

            node.Advance();
        }

        Assert.Equal([2UL, 3UL], applied);
        var restarted = new RaftNode(new RaftConfig { NodeId = 1 }, storage, new SplitMix64Random(2), appliedIndex: node.AppliedIndex);
        Assert.Equal(storage.HardState.Term, restarted.Term);
        Assert.Equal(storage.HardState.Vote, restarted.Vote);
        Assert.Equal(3UL, restarted.CommitIndex);
        Assert.False(restarted.HasReady()); // nothing is delivered twice

        var behind = new RaftNode(new RaftConfig { NodeId = 1 }, storage, new SplitMix64Random(2), appliedIndex: 1);
        Assert.Equal([2UL, 3UL], behind.Ready().CommittedEntries.ToArray().Select(e => e.Index));
        Assert.Throws<InvariantException>(() => new RaftNode(new RaftConfig { NodeId = 1 }, storage, new SplitMix64Random(2), appliedIndex: 99));
    }

    [Fact]
    public void Proposals_return_typed_refusals()
    {
        MemoryRaftStorage followerStorage = Storage(1, 2, 3);
        RaftNode follower = NewNode(1, followerStorage);
        follower.Step(new Message { Kind = MessageKind.Heartbeat, From = 2, To = 1, Term = 1 });
        ProposeResult notLeader = follower.Propose(new byte[] { 1 });
        Assert.Equal(ProposeStatus.NotLeader, notLeader.Status);
        Assert.Equal(2UL, notLeader.LeaderHint);
        Drain(follower, followerStorage);

        MemoryRaftStorage storage = Storage(1, 2, 3);
        RaftNode leader = NewNode(1, storage);
        leader.Campaign();
        Drain(leader, storage);
        leader.Step(new Message { Kind = MessageKind.VoteResponse, From = 2, To = 1, Term = 1 });
        Drain(leader, storage);
        Assert.Equal(ProposeStatus.RejectedTooLarge, leader.Propose(new byte[33]).Status);
        Assert.Equal(ProposeStatus.RejectedTooLarge, leader.ProposeBatch([]).Status);
        Assert.True(leader.Propose(new byte[32]).IsAccepted);
        Assert.True(leader.Propose(new byte[32]).IsAccepted);
        Assert.Equal(ProposeStatus.DroppedUncommittedLimit, leader.Propose(new byte[1]).Status); // 64 bytes uncommitted
        Assert.True(leader.TransferLeadership(2));
        Assert.Equal(ProposeStatus.DroppedTransferInProgress, leader.Propose(new byte[1]).Status);
    }

    [Fact]
    public void Section_6_4_read_index_needs_a_quorum_round_and_is_bounded()
    {
        MemoryRaftStorage storage = Storage(1, 2, 3);
        RaftNode leader = NewNode(1, storage);
        leader.Campaign();
        Drain(leader, storage);
        leader.Step(new Message { Kind = MessageKind.VoteResponse, From = 2, To = 1, Term = 1 });
        Drain(leader, storage);
        Assert.Equal(ReadIndexStatus.NotReady, leader.ReadIndex(1));
        leader.Step(new Message { Kind = MessageKind.AppendResponse, From = 2, To = 1, Term = 1, Index = 1 });
        Drain(leader, storage);
        Assert.Equal(ReadIndexStatus.Pending, leader.ReadIndex(7));
        Assert.Equal(ReadIndexStatus.Pending, leader.ReadIndex(8));
        Assert.Equal(ReadIndexStatus.DroppedPendingLimit, leader.ReadIndex(9));
        Ready ready = leader.Ready();
        Assert.True(ready.ReadStates.IsEmpty);
        leader.Advance();
        leader.Step(new Message { Kind = MessageKind.HeartbeatResponse, From = 3, To = 1, Term = 1, Context = 1 });
        ready = leader.Ready();
        Assert.Equal([new ReadState(1, 7)], ready.ReadStates.ToArray()); // round 1 confirmed, round 2 not yet
        leader.Advance();
    }

    [Theory]
    [InlineData(70UL, 2)] // the empty entry of the term (17 bytes with its header) and one of 33
    [InlineData(10UL, 1)] // one entry is always sent, whatever its size
    [InlineData(64UL << 10, 5)]
    public void Section_5_3_a_probe_carries_at_most_MaxProbeBytes_and_the_pipeline_carries_full_messages(ulong maxProbeBytes, int probed)
    {
        MemoryRaftStorage storage = Storage(1, 2, 3);
        var config = new RaftConfig { NodeId = 1, PreVote = false, CheckQuorum = false, MaxEntryBytes = 32, MaxProbeBytes = maxProbeBytes };
        RaftNode leader = new(config, storage, new SplitMix64Random(1));
        leader.Campaign();
        Drain(leader, storage);
        leader.Step(new Message { Kind = MessageKind.VoteResponse, From = 2, To = 1, Term = 1 });
        Drain(leader, storage);
        for (int i = 0; i < 4; i++)
        {
            Assert.True(leader.Propose(new byte[16]).IsAccepted);
        }

        // Both followers have a probe outstanding, so the proposals wait.
        Assert.DoesNotContain(Drain(leader, storage), m => m.Kind == MessageKind.Append && !m.Entries.IsEmpty);

        // Member 2 acknowledges its probe: it moves to the pipeline and gets the four entries in one message.
        leader.Step(new Message { Kind = MessageKind.AppendResponse, From = 2, To = 1, Term = 1, Index = 1 });
        Message toTwo = Drain(leader, storage).Single(m => m.Kind == MessageKind.Append && m.To == 2 && !m.Entries.IsEmpty);
        Assert.Equal([2UL, 3, 4, 5], toTwo.Entries.ToArray().Select(e => e.Index));

        // Member 3 only answers a heartbeat: it is probed again, from index 1, within the probe's bytes.
        leader.Step(new Message { Kind = MessageKind.HeartbeatResponse, From = 3, To = 1, Term = 1 });
        Message probe = Drain(leader, storage).Single(m => m.Kind == MessageKind.Append && m.To == 3);
        Assert.Equal(0UL, probe.Index);
        Assert.Equal(Enumerable.Range(1, probed).Select(i => (ulong)i), probe.Entries.ToArray().Select(e => e.Index));

        // Once it acknowledges the probe, the rest goes in one pipelined message.
        leader.Step(new Message { Kind = MessageKind.AppendResponse, From = 3, To = 1, Term = 1, Index = (ulong)probed });
        Message[] rest = [.. Drain(leader, storage).Where(m => m.Kind == MessageKind.Append && m.To == 3 && !m.Entries.IsEmpty)];
        Assert.Equal(probed < 5 ? 1 : 0, rest.Length);
        Assert.Equal(Enumerable.Range(probed + 1, 5 - probed).Select(i => (ulong)i), rest.SelectMany(m => m.Entries.ToArray()).Select(e => e.Index));
    }
}
