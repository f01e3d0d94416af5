using System.Buffers.Binary;
using Ledger.Consensus;

namespace Ledger.Consensus.Tests;

internal sealed partial class SimulationCluster
{
    private void Send(SimHost from, in Message m)
    {
        RecordSent(from, m);
        if (!_faultsOn)
        {
            Enqueue(m, 1);
            return;
        }

        if (Chance(_options.DropPerMille))
        {
            return;
        }

        Enqueue(m, 1 + _random.NextInt(_options.MaxDelaySteps));
        if (Chance(_options.DuplicatePerMille))
        {
            Enqueue(m, 1 + _random.NextInt(_options.MaxDelaySteps));
        }
    }

    private void Enqueue(in Message m, int delaySteps) => _network.Enqueue(m, (_step + delaySteps, _sequence++));

    private void RecordSent(SimHost from, in Message m)
    {
        bool futureTerm = m.Kind == MessageKind.PreVote || (m.Kind == MessageKind.PreVoteResponse && !m.Reject);
        if (!futureTerm && m.Term > from.MaxTermSent)
        {
            from.MaxTermSent = m.Term;
        }

        ulong candidate = m.Kind switch
        {
            MessageKind.VoteResponse when !m.Reject => m.To,
            MessageKind.Vote => from.Id,
            _ => 0,
        };
        if (candidate == 0)
        {
            return;
        }

        // Election safety starts here: one vote per voter per term (§5.2).
        if (_votes.TryGetValue((from.Id, m.Term), out ulong earlier))
        {
            Require(earlier == candidate, $"n{from.Id} voted for n{earlier} and n{candidate} in term {m.Term}");
        }

        _votes[(from.Id, m.Term)] = candidate;
        from.LastGrantedTerm = m.Term;
        from.LastGrantedCandidate = candidate;
    }

    private void DeliverDue()
    {
        while (_network.TryPeek(out Message m, out (long Step, long Sequence) at) && at.Step <= _step)
        {
            _network.Dequeue();
            SimHost to = _hosts[m.To];
            if (to.Node is null || !_canSend[m.From, m.To])
            {
                continue;
            }

            _traceHash = (_traceHash ^ ((ulong)m.Kind << 56 ^ m.From << 48 ^ m.To << 40 ^ m.Term << 20 ^ m.Index)) * 1099511628211UL;
            if (_trace is not null)
            {
                Trace("deliver " + Format.Message(m));
            }

            to.Node.Step(m);
        }
    }

    private void ProcessReady(SimHost host)
    {
        RaftNode? node = host.Node;
        if (node is null || !node.HasReady())
        {
            return;
        }

        Ready ready = node.Ready();
        bool crashHere = _faultsOn && Chance(_options.ReadyCrashPerMille);
        int crashPoint = crashHere ? _random.NextInt(3) : -1;
        foreach (Message m in ready.Messages)
        {
            Send(host, m); // a leader replicates while it persists
        }

        if (crashPoint == 0)
        {
            Crash(host, "before persisting");
            return;
        }

        ReadOnlySpan<Entry> entries = ready.Entries.Span;
        if (crashPoint == 1)
        {
            int kept = entries.IsEmpty ? 0 : _random.NextInt(entries.Length);
            Persist(host, entries[..kept], ready.Role);
            Crash(host, $"torn write kept {kept} of {entries.Length} entries");
            return;
        }

        Persist(host, entries, ready.Role);
        if (ready.HardState is { } hardState)
        {
            host.Storage.SetHardState(hardState);
        }

        if (crashPoint == 2)
        {
            Crash(host, "after persisting, before acknowledging");
            return;
        }

        foreach (Message m in ready.MessagesAfterPersist)
        {
            Send(host, m);
        }

        Apply(host, ready);
        CompleteReads(host, ready);
        node.Advance();
    }

    private static ulong DataKey(in Entry entry) => entry.Kind switch
    {
        EntryKind.Normal => BinaryPrimitives.ReadUInt64BigEndian(entry.Data.Span),
        EntryKind.MembershipChange => (1UL << 63) | ((ulong)entry.Data.Span[0] << 56) | BinaryPrimitives.ReadUInt64BigEndian(entry.Data.Span[1..]),
        _ => 0,
    };

    private void Persist(SimHost host, ReadOnlySpan<Entry> entries, RaftRole role)
    {
        if (entries.IsEmpty)
        {
            return;
        }

        ulong first = entries[0].Index;
        Require(role != RaftRole.Leader || first > host.Storage.LastIndex, $"leader n{host.Id} overwrote its log at {first}");
        ulong previousTerm = first == 1 ? 0 : host.Storage.Term(first - 1);
        foreach (ref readonly Entry entry in entries)
        {
            // Log matching (§5.3): an (index, term) names one entry and one predecessor term, everywhere.
            ulong data = DataKey(entry);
            if (_entryIdentity.TryGetValue((entry.Index, entry.Term), out (ulong Data, ulong PreviousTerm) known))
            {
                Require(known.Data == data && known.PreviousTerm == previousTerm, $"n{host.Id} holds a different entry at {entry.Index}/{entry.Term}");
            }
            else
            {
                _entryIdentity[(entry.Index, entry.Term)] = (data, previousTerm);
            }

            previousTerm = entry.Term;
        }

        host.Storage.Append(entries);
    }

    private void Apply(SimHost host, Ready ready)
    {
        foreach (ref readonly Entry entry in ready.CommittedEntries.Span)
        {
            Require(entry.Index == host.AppliedIndex + 1, $"n{host.Id} applied index {entry.Index} after {host.AppliedIndex}");
            ulong data = DataKey(entry);
            if ((ulong)_appliedIdentity.Count == entry.Index)
            {
                _appliedIdentity.Add((entry.Term, data));
            }
            else
            {
                Require(_appliedIdentity[(int)entry.Index] == (entry.Term, data), $"n{host.Id} applied a different entry at {entry.Index}");
            }

            if (entry.Kind == EntryKind.Normal)
            {
                Require(host.AppliedIds.Add(data), $"n{host.Id} applied proposal {data} twice");
                if (_proposals.TryGetValue(data, out (ulong Index, ulong Term) at) && at == (entry.Index, entry.Term) && host.Node!.Role == RaftRole.Leader)
                {
                    _acknowledged.Add(data);
                }
            }

            host.AppliedIndex = entry.Index;
        }
    }

    /// <summary>
    /// Linearizable reads (dissertation §6.4): a read index covers every entry committed anywhere
    /// before the read was requested, and never exceeds what the serving node has committed.
    /// </summary>
    private void ReadSomething()
    {
        if (_random.NextInt(8) != 0 || Leader() is not { } leader)
        {
            return;
        }

        ulong context = _nextReadContext++;
        ReadIndexStatus status = leader.Node!.ReadIndex(context);
        if (status == ReadIndexStatus.Pending)
        {
            _pendingReads[context] = (ulong)_committedTerms.Count - 1;
        }

        TraceNumbers("read", leader.Id, context, (ulong)status);
    }

    private void CompleteReads(SimHost host, Ready ready)
    {
        foreach (ReadState read in ready.ReadStates)
        {
            Require(_pendingReads.Remove(read.RequestContext, out ulong committedBefore), $"n{host.Id} completed unknown read {read.RequestContext}");
            Require(read.Index >= committedBefore, $"n{host.Id} served read {read.RequestContext} at {read.Index}, before the committed {committedBefore}");
            Require(read.Index <= host.Node!.CommitIndex, $"n{host.Id} served read {read.RequestContext} at {read.Index} beyond its commit");
            ReadsServed++;
        }
    }

    private SimHost? Leader()
    {
        SimHost? best = null;
        foreach (SimHost host in _hosts.Values)
        {
            if (host.Node is { Role: RaftRole.Leader } node && (best is null || node.Term > best.Node!.Term))
            {
                best = host;
            }
        }

        return best;
    }

    private void ProposeSomething()
    {
        if (_random.NextInt(3) != 0 || Leader() is not { } leader)
        {
            return;
        }

        int count = 1 + _random.NextInt(ProposalBatchMax);
        var batch = new ReadOnlyMemory<byte>[count];
        for (int i = 0; i < count; i++)
        {
            var data = new byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(data, _nextProposalId + (ulong)i);
            batch[i] = data;
        }

        ProposeResult result = leader.Node!.ProposeBatch(batch);
        if (result.IsAccepted)
        {
            for (int i = 0; i < count; i++)
            {
                _proposals[_nextProposalId + (ulong)i] = (result.Index - (ulong)(count - 1 - i), result.Term);
            }

            _nextProposalId += (ulong)count;
        }

        TraceNumbers("propose", leader.Id, (ulong)count, (ulong)result.Status);
    }
}
