using Ledger.Consensus;

namespace Ledger.Consensus.Tests;

internal sealed partial class SimulationCluster
{
    private void CheckInvariants()
    {
        foreach (SimHost host in _hosts.Values)
        {
            if (host.Node is { } node)
            {
                CheckNode(host, node);
            }
        }

        StopRemovedNodes();
    }

    private void CheckNode(SimHost host, RaftNode node)
    {
        Require(node.Term >= host.LastTerm, $"n{host.Id} term went back from {host.LastTerm} to {node.Term}");
        host.LastTerm = node.Term;
        if (node.Role == RaftRole.Leader)
        {
            CheckLeader(host, node);
        }

        CheckCommit(host, node);
    }

    private void CheckLeader(SimHost host, RaftNode node)
    {
        // Election safety (§5.2): at most one leader per term.
        if (_leaderOfTerm.TryGetValue(node.Term, out ulong other))
        {
            Require(other == host.Id, $"n{other} and n{host.Id} both lead term {node.Term}");
        }
        else
        {
            _leaderOfTerm[node.Term] = host.Id;
            Trace($"leader n{host.Id} term {node.Term}");
        }

        if (host.LeaderTerm == node.Term)
        {
            // Leader append-only (§5.3): a leader never overwrites or deletes its entries.
            Require(node.LastIndex >= host.LeaderLastIndex && node.Log.Term(host.LeaderLastIndex) == host.LeaderLastTerm, $"leader n{host.Id} rewrote its log in term {node.Term}");
        }
        else
        {
            // Leader completeness (§5.4): every committed entry is in the new leader's log.
            ulong committed = (ulong)_committedTerms.Count - 1;
            Require(node.LastIndex >= committed && node.Log.Term(committed) == _committedTerms[(int)committed], $"leader n{host.Id} of term {node.Term} lacks committed index {committed}");
            host.LeaderTerm = node.Term;
        }

        host.LeaderLastIndex = node.LastIndex;
        host.LeaderLastTerm = node.Log.Term(node.LastIndex);
        if (node.CommitIndex > host.CheckedCommit)
        {
            CheckQuorumDurable(host, node);
        }
    }

    /// <summary>Commit never exceeds what a quorum of voters holds durably (§5.3 with durability).</summary>
    private void CheckQuorumDurable(SimHost host, RaftNode node)
    {
        ulong commit = node.CommitIndex;
        ulong term = node.Log.Term(commit);
        if (term == node.Term)
        {
            int durable = 0;
            foreach (ulong voter in node.Membership.Voters)
            {
                MemoryRaftStorage storage = _hosts[voter].Storage;
                // A wiped voter may have acknowledged the entry before its disk was lost: the leader
                // counts that acknowledgement, which no rule can make durable again.
                if ((storage.LastIndex >= commit && storage.Term(commit) == term) || _hosts[voter].Wiped)
                {
                    durable++;
                }
            }

            Require(durable >= node.Membership.QuorumSize, $"leader n{host.Id} committed {commit} held durably by {durable} voters: " + string.Join(", ", node.Membership.Voters.Select(v => $"n{v} durable={_hosts[v].Storage.LastIndex} match={node.ProgressOf(v)?.Match}")));
        }

        host.CheckedCommit = commit;
    }

    private void CheckCommit(SimHost host, RaftNode node)
    {
        ulong commit = node.CommitIndex;
        if (commit == 0)
        {
            return;
        }

        ulong known = (ulong)_committedTerms.Count - 1;
        if (commit <= known)
        {
            Require(node.Log.Term(commit) == _committedTerms[(int)commit], $"n{host.Id} committed a different entry at {commit}");
            return;
        }

        Require(node.Log.Term(known) == _committedTerms[(int)known], $"n{host.Id} committed a log that diverges at or before {known}");
        for (ulong index = known + 1; index <= commit; index++)
        {
            _committedTerms.Add(node.Log.Term(index));
        }
    }

    private bool Converged()
    {
        if (Leader() is not { } leaderHost)
        {
            return false;
        }

        RaftNode leader = leaderHost.Node!;
        if (leader.CommitIndex != leader.LastIndex || leader.MembershipIndex > leader.CommitIndex)
        {
            return false;
        }

        foreach (SimHost host in _hosts.Values)
        {
            bool member = leader.Membership.IsVoter(host.Id) || leader.Membership.IsLearner(host.Id);
            if (!member)
            {
                continue;
            }

            if (host.Node is not { } node || node.Term != leader.Term || node.LeaderId != leader.Id
                || node.LastIndex != leader.LastIndex || node.AppliedIndex != leader.LastIndex || node.DurableLastIndex != leader.LastIndex)
            {
                return false;
            }
        }

        return true;
    }

    private void CheckFinalState()
    {
        RaftNode leader = Leader()!.Node!;
        foreach (SimHost host in _hosts.Values)
        {
            if (!leader.Membership.IsVoter(host.Id) && !leader.Membership.IsLearner(host.Id))
            {
                continue;
            }

            for (ulong index = 1; index <= leader.LastIndex; index++)
            {
                Require(host.Storage.Term(index) == leader.Log.Term(index), $"n{host.Id} log differs from the leader's at {index} after convergence");
            }

            foreach (ulong id in _acknowledged)
            {
                Require(host.AppliedIds.Contains(id), $"n{host.Id} never applied acknowledged proposal {id}");
            }
        }
    }
}
