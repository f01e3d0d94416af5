namespace Ledger.Consensus;

/// <summary>How a leader replicates to one follower.</summary>
public enum ReplicationState : byte
{
    /// <summary>One Append at a time until the follower's match is known.</summary>
    Probe = 0,

    /// <summary>Optimistic pipelining, bounded by the in-flight window.</summary>
    Replicate = 1,
}

/// <summary>A bounded ring of (last index, bytes) of Append messages not yet acknowledged.</summary>
internal sealed class Inflights
{
    private readonly ulong[] _lastIndices;
    private readonly ulong[] _sizesBytes;
    private readonly ulong _maxBytes;
    private int _head;

    public Inflights(int maxMessages, ulong maxBytes)
    {
        _lastIndices = new ulong[maxMessages];
        _sizesBytes = new ulong[maxMessages];
        _maxBytes = maxBytes;
    }

    public int Count { get; private set; }

    public ulong Bytes { get; private set; }

    public bool Full => Count == _lastIndices.Length || Bytes >= _maxBytes;

    public void Add(ulong lastIndex, ulong sizeBytes)
    {
        Invariant.Check(Count < _lastIndices.Length, "in-flight window overflow");
        int tail = (_head + Count) % _lastIndices.Length;
        _lastIndices[tail] = lastIndex;
        _sizesBytes[tail] = sizeBytes;
        Count++;
        Bytes += sizeBytes;
    }

    /// <summary>Frees every message whose last index is at most <paramref name="index"/>.</summary>
    public void FreeUpTo(ulong index)
    {
        while (Count > 0 && _lastIndices[_head] <= index)
        {
            Bytes -= _sizesBytes[_head];
            _head = (_head + 1) % _lastIndices.Length;
            Count--;
        }
    }

    public void Reset()
    {
        Count = 0;
        Bytes = 0;
        _head = 0;
    }
}

/// <summary>What a leader knows about one member (Figure 2 nextIndex and matchIndex, plus flow control).</summary>
internal sealed class Progress
{
    public Progress(int maxInflightMessages, ulong maxInflightBytes) =>
        Inflights = new Inflights(maxInflightMessages, maxInflightBytes);

    public ulong Match { get; set; }

    public ulong Next { get; set; }

    public ReplicationState State { get; private set; }

    /// <summary>Probe state: an Append is outstanding; wait for its answer or a heartbeat response.</summary>
    public bool ProbeSent { get; set; }

    /// <summary>Heard from since the last CheckQuorum round.</summary>
    public bool RecentActive { get; set; }

    /// <summary>Highest ReadIndex round this member acknowledged.</summary>
    public ulong ReadAckRound { get; set; }

    public Inflights Inflights { get; }

    /// <summary>Match at the previous retransmission check (once per election timeout).</summary>
    public ulong MatchAtLastCheck { get; set; }

    public bool IsPaused => State == ReplicationState.Probe ? ProbeSent : Inflights.Full;

    public void Reset(ulong next)
    {
        Match = 0;
        BecomeProbe();
        Next = next;
        RecentActive = false;
        ReadAckRound = 0;
    }

    public void BecomeProbe()
    {
        // After a rejection or a restart of replication, resume from the known match.
        State = ReplicationState.Probe;
        Next = Match + 1;
        ProbeSent = false;
        Inflights.Reset();
    }

    public void BecomeReplicate()
    {
        State = ReplicationState.Replicate;
        Next = Match + 1;
        ProbeSent = false;
        Inflights.Reset();
    }

    /// <summary>An acknowledgement up to <paramref name="index"/>; false when it tells nothing new.</summary>
    public bool MaybeUpdate(ulong index)
    {
        bool updated = false;
        if (index > Match)
        {
            Match = index;
            updated = true;
            ProbeSent = false;
        }

        Next = Math.Max(Next, index + 1);
        return updated;
    }

    /// <summary>
    /// A rejection of the Append at <paramref name="rejectedIndex"/>; moves Next back to
    /// <paramref name="hintIndex"/> + 1. False when the rejection is stale.
    /// </summary>
    public bool MaybeDecreaseTo(ulong rejectedIndex, ulong hintIndex)
    {
        if (State == ReplicationState.Replicate)
        {
            if (rejectedIndex <= Match)
            {
                return false;
            }

            Next = Match + 1;
            return true; // the caller moves to Probe, which restarts from Match + 1
        }

        if (Next - 1 != rejectedIndex)
        {
            return false;
        }

        Next = Math.Max(Math.Min(rejectedIndex, hintIndex + 1), Match + 1);
        ProbeSent = false;
        return true;
    }
}
