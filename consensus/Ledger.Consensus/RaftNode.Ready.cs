namespace Ledger.Consensus;

public sealed partial class RaftNode
{
    /// <summary>True when <see cref="Ready"/> has work for the host.</summary>
    public bool HasReady()
    {
        RequireNoOutstandingReady();
        FlushProposals();
        return _log.HasUnstable
            || CurrentHardState != _persistedHardState
            || _messages.Count > 0
            || _messagesAfterPersist.Count > 0
            || _log.HasNextToApply
            || _ready.ReadStateList.Count > 0;
    }

    /// <summary>
    /// Collects the work for the host (see <see cref="Consensus.Ready"/> for the order the host must follow).
    /// The returned object is reused: it is valid until <see cref="Advance"/>.
    /// </summary>
    public Ready Ready()
    {
        RequireNoOutstandingReady();
        FlushProposals();
        _readyOutstanding = true;
        Ready ready = _ready;
        ready.Entries = _log.Unstable;
        _readyLastEntryIndex = ready.Entries.IsEmpty ? 0 : ready.Entries.Span[^1].Index;
        HardState hardState = CurrentHardState;
        ready.HardState = hardState != _persistedHardState ? hardState : null;
        (ready.MessageList, _messages) = (_messages, ready.MessageList);
        (ready.AfterPersistList, _messagesAfterPersist) = (_messagesAfterPersist, ready.AfterPersistList);
        ready.CommittedEntries = _log.NextToApply(_config.MaxApplyBytesPerReady);
        _readyLastCommittedIndex = ready.CommittedEntries.IsEmpty ? 0 : ready.CommittedEntries.Span[^1].Index;
        ready.Role = Role;
        ready.LeaderId = _leaderId;
        return ready;
    }

    /// <summary>
    /// Reports that the host finished the last <see cref="Ready"/>: its entries and hard state are
    /// durable, its messages sent and its committed entries applied. Only now do those entries count
    /// toward this node's share of a commit quorum.
    /// </summary>
    public void Advance()
    {
        Invariant.Check(_readyOutstanding, "Advance without Ready");
        _readyOutstanding = false;
        Ready ready = _ready;
        if (ready.HardState is { } hardState)
        {
            _persistedHardState = hardState;
        }

        if (_readyLastEntryIndex != 0)
        {
            _log.StableTo(_readyLastEntryIndex);
        }

        if (_readyLastCommittedIndex != 0)
        {
            _log.AppliedTo(_readyLastCommittedIndex);
        }

        ready.MessageList.Clear();
        ready.AfterPersistList.Clear();
        ready.ReadStateList.Clear();
        ready.Entries = ReadOnlyMemory<Entry>.Empty;
        ready.CommittedEntries = ReadOnlyMemory<Entry>.Empty;
        ready.HardState = null;
        OnDurable();
    }

    private void OnDurable()
    {
        if (Role != RaftRole.Leader || !_progress.TryGetValue(_config.NodeId, out Progress? self))
        {
            return;
        }

        self.MaybeUpdate(_log.DurableLastIndex);
        if (MaybeCommit())
        {
            BroadcastAppend();
        }
    }
}
