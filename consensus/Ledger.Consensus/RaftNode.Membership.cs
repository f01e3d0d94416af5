namespace Ledger.Consensus;

public sealed partial class RaftNode
{
    private const ulong RebuildPageBytes = 4UL << 20;

    /// <summary>Replays the membership changes in the durable log on top of the genesis membership.</summary>
    private void RebuildMembershipHistory(IRaftStorage storage, Membership genesis)
    {
        _membershipHistory.Add((0, genesis));
        ulong next = 1;
        ulong last = storage.LastIndex;
        while (next <= last)
        {
            ReadOnlyMemory<Entry> page = storage.Entries(next, last + 1, RebuildPageBytes);
            Invariant.Check(!page.IsEmpty, "storage returned no entries for a non-empty range");
            TrackMembershipEntries(page.Span);
            next += (ulong)page.Length;
        }

        PruneMembershipHistory();
    }

    /// <summary>Applies membership changes found in newly appended entries (they take effect when appended).</summary>
    private void TrackMembershipEntries(ReadOnlySpan<Entry> entries)
    {
        foreach (ref readonly Entry entry in entries)
        {
            if (entry.Kind != EntryKind.MembershipChange)
            {
                continue;
            }

            Invariant.Check(MembershipChange.TryDecode(entry.Data.Span, out MembershipChange change), $"undecodable membership change at {entry.Index}");
            Membership? next = Membership.TryApply(change, out string? reason);
            Invariant.Check(next is not null, $"invalid membership change at {entry.Index}: {reason}");
            _membershipHistory.Add((entry.Index, next!));
            OnMembershipChanged();
        }
    }

    /// <summary>Reverts membership changes at or after <paramref name="index"/>, whose entries are being overwritten.</summary>
    private void TruncateMembershipHistory(ulong index)
    {
        bool changed = false;
        while (_membershipHistory.Count > 1 && _membershipHistory[^1].Index >= index)
        {
            Invariant.Check(_membershipHistory[^1].Index > _log.Committed, "a committed membership change cannot be reverted");
            _membershipHistory.RemoveAt(_membershipHistory.Count - 1);
            changed = true;
        }

        if (changed)
        {
            OnMembershipChanged();
        }
    }

    /// <summary>Keeps only the latest committed membership and the uncommitted ones after it.</summary>
    private void PruneMembershipHistory()
    {
        int latestCommitted = 0;
        for (int i = 1; i < _membershipHistory.Count; i++)
        {
            if (_membershipHistory[i].Index <= _log.Committed)
            {
                latestCommitted = i;
            }
        }

        if (latestCommitted > 0)
        {
            _membershipHistory.RemoveRange(0, latestCommitted);
        }
    }

    private void OnMembershipChanged()
    {
        if (Role != RaftRole.Leader)
        {
            return;
        }

        Membership membership = Membership;
        List<ulong>? removed = null;
        foreach (ulong id in _progress.Keys)
        {
            if (!membership.IsVoter(id) && !membership.IsLearner(id))
            {
                (removed ??= []).Add(id);
            }
        }

        foreach (ulong id in removed ?? [])
        {
            _progress.Remove(id);
            if (id == _leadTransferee)
            {
                _leadTransferee = 0;
            }
        }

        AddProgressFor(membership);
        // The quorum changed: commit may move, reads may be confirmed.
        if (MaybeCommit())
        {
            _broadcastPending = true;
        }

        ReleaseConfirmedReads();
    }
}
