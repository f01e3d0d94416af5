using Ledger.Consensus;

namespace Ledger.Consensus.Tests;

internal sealed partial class SimulationCluster
{
    private void InjectFaults()
    {
        if (Chance(_options.CrashPerMille))
        {
            SimHost host = _hosts[(ulong)(1 + _random.NextInt(_hosts.Count))];
            if (host.Node is not null)
            {
                Crash(host, "at random");
            }
        }

        if (Chance(_options.PartitionPerMille))
        {
            Partition();
        }
        else if (Chance(_options.PartitionPerMille * 2))
        {
            Heal();
            Trace("heal");
        }

        if (!_replacements && Chance(4))
        {
            ChangeMembership();
        }

        if (Chance(4) && Leader() is { } leader)
        {
            ulong[] voters = [.. leader.Node!.Membership.Voters];
            ulong target = voters[_random.NextInt(voters.Length)];
            Trace($"transfer n{leader.Id} -> n{target} {leader.Node.TransferLeadership(target)}");
        }
    }

    private void Partition()
    {
        int nodes = _hosts.Count;
        Heal();
        ulong groupMask = 1 + (ulong)_random.NextInt((1 << nodes) - 2); // a proper non-empty subset
        int kind = _random.NextInt(3);
        int bridge = 1 + _random.NextInt(nodes);
        for (int a = 1; a <= nodes; a++)
        {
            for (int b = 1; b <= nodes; b++)
            {
                bool aIn = (groupMask >> (a - 1) & 1) == 1;
                bool bIn = (groupMask >> (b - 1) & 1) == 1;
                if (aIn == bIn)
                {
                    continue;
                }

                _canSend[a, b] = kind switch
                {
                    0 => false, // symmetric
                    1 => !aIn, // asymmetric: the group hears the rest but cannot answer
                    _ => a == bridge || b == bridge, // two sides joined only through a bridge node
                };
            }
        }

        Trace($"partition kind={kind} group={groupMask:b} bridge={bridge}");
    }

    private void ChangeMembership()
    {
        if (Leader() is not { } leader)
        {
            return;
        }

        Membership membership = leader.Node!.Membership;
        ulong id = (ulong)(1 + _random.NextInt(_hosts.Count));
        MembershipChangeKind kind;
        if (membership.IsVoter(id))
        {
            if (membership.Voters.Count <= 3)
            {
                return;
            }

            kind = MembershipChangeKind.Remove;
        }
        else if (membership.IsLearner(id))
        {
            kind = membership.Voters.Count < 5 && _random.NextInt(2) == 0 ? MembershipChangeKind.AddVoter : MembershipChangeKind.Remove;
        }
        else
        {
            kind = MembershipChangeKind.AddLearner;
        }

        ProposeResult result = leader.Node.ProposeMembershipChange(new MembershipChange(kind, id));
        Trace($"change n{leader.Id} {kind} n{id} {result.Status}");
    }

    /// <summary>
    /// The operator: starts a stopped node that the leader's membership lists again, and shuts down
    /// nodes once the leader's committed membership no longer has them.
    /// </summary>
    private void StopRemovedNodes()
    {
        if (Leader() is not { } leader)
        {
            return;
        }

        Membership membership = leader.Node!.Membership;
        bool committed = leader.Node.MembershipIndex <= leader.Node.CommitIndex;
        foreach (SimHost host in _hosts.Values)
        {
            bool member = membership.IsVoter(host.Id) || membership.IsLearner(host.Id);
            if (host.Stopped && member)
            {
                host.Stopped = false;
                host.RestartAtStep = _step + 1;
                Trace($"start member n{host.Id}");
            }
            else if (!host.Stopped && !member && committed)
            {
                host.Stopped = true;
                host.Node = null;
                host.RestartAtStep = -1;
                Trace($"stop removed n{host.Id}");
            }
        }
    }
}
