namespace Ledger.Consensus;

/// <summary>
/// The log as the core sees it: the durable prefix in <see cref="IRaftStorage"/> up to
/// <see cref="_unstableOffset"/> - 1, then the unstable entries not yet handed to (or persisted by) the host.
/// Unstable memory is append-only: positions once written are never rewritten, so messages may
/// reference it; truncation and growth copy into a fresh buffer.
/// </summary>
internal sealed class RaftLog
{
    private const int UnstableCapacityMinEntries = 1024;

    private readonly IRaftStorage _storage;
    private Entry[] _buffer = new Entry[UnstableCapacityMinEntries];
    private int _start; // position of the first unstable entry in _buffer
    private int _end; // one past the last unstable entry
    private ulong _unstableOffset; // index of _buffer[_start]
    private bool _bufferShared; // a slice of _buffer left the log (in a message): never rewrite it

    public RaftLog(IRaftStorage storage, ulong committed, ulong applied)
    {
        _storage = storage;
        _unstableOffset = storage.LastIndex + 1;
        Invariant.Check(committed <= storage.LastIndex, $"persisted commit {committed} beyond durable last index {storage.LastIndex}");
        Invariant.Check(applied <= committed, $"applied {applied} beyond commit {committed}");
        Committed = committed;
        Applied = applied;
    }

    public ulong Committed { get; private set; }

    public ulong Applied { get; private set; }

    private int UnstableCount => _end - _start;

    public ulong LastIndex => UnstableCount > 0 ? _unstableOffset + (ulong)UnstableCount - 1 : _storage.LastIndex;

    public ulong LastTerm => Term(LastIndex);

    /// <summary>Last index whose entry is durable on this node and belongs to the current log.</summary>
    public ulong DurableLastIndex => Math.Min(_storage.LastIndex, _unstableOffset - 1);

    public bool HasUnstable => UnstableCount > 0;

    public ReadOnlyMemory<Entry> Unstable => new(_buffer, _start, UnstableCount);

    /// <summary>Term at <paramref name="index"/>, or false when the index is past the end.</summary>
    public bool TryTerm(ulong index, out ulong term)
    {
        if (index >= _unstableOffset && UnstableCount > 0)
        {
            ulong position = index - _unstableOffset;
            if (position < (ulong)UnstableCount)
            {
                term = _buffer[_start + (int)position].Term;
                return true;
            }

            term = 0;
            return false;
        }

        if (index <= DurableLastIndex)
        {
            term = _storage.Term(index);
            return true;
        }

        term = 0;
        return false;
    }

    public ulong Term(ulong index)
    {
        bool found = TryTerm(index, out ulong term);
        Invariant.Check(found, $"term of index {index} past last {LastIndex}");
        return term;
    }

    public bool MatchTerm(ulong index, ulong term) => TryTerm(index, out ulong actual) && actual == term;

    public bool IsUpToDate(ulong lastIndex, ulong lastTerm)
    {
        ulong myTerm = LastTerm;
        return lastTerm > myTerm || (lastTerm == myTerm && lastIndex >= LastIndex);
    }

    /// <summary>Entries in [from, toExclusive), bounded by count and bytes (at least one entry of a non-empty range).</summary>
    public ReadOnlyMemory<Entry> Slice(ulong from, ulong toExclusive, int maxEntries, ulong maxBytes)
    {
        Invariant.Check(from >= 1 && from <= toExclusive && toExclusive <= LastIndex + 1, $"slice [{from},{toExclusive}) outside log [1,{LastIndex + 1})");
        if (toExclusive - from > (ulong)maxEntries)
        {
            toExclusive = from + (ulong)maxEntries;
        }

        if (from >= _unstableOffset)
        {
            _bufferShared = true;
            return LimitBytes(new ReadOnlyMemory<Entry>(_buffer, _start + (int)(from - _unstableOffset), (int)(toExclusive - from)), maxBytes);
        }

        ulong storageEnd = Math.Min(toExclusive, _unstableOffset);
        ReadOnlyMemory<Entry> stored = _storage.Entries(from, storageEnd, maxBytes);
        if (storageEnd == toExclusive || (ulong)stored.Length < storageEnd - from)
        {
            return stored;
        }

        return Concatenate(stored, Slice(_unstableOffset, toExclusive, maxEntries, maxBytes), maxBytes);
    }

    private static ReadOnlyMemory<Entry> LimitBytes(ReadOnlyMemory<Entry> entries, ulong maxBytes)
    {
        ReadOnlySpan<Entry> span = entries.Span;
        ulong bytes = 0;
        for (int i = 0; i < span.Length; i++)
        {
            bytes += span[i].SizeBytes;
            if (bytes > maxBytes && i > 0)
            {
                return entries[..i];
            }
        }

        return entries;
    }

    private static ReadOnlyMemory<Entry> Concatenate(ReadOnlyMemory<Entry> first, ReadOnlyMemory<Entry> second, ulong maxBytes)
    {
        var joined = new Entry[first.Length + second.Length];
        first.Span.CopyTo(joined);
        second.Span.CopyTo(joined.AsSpan(first.Length));
        return LimitBytes(joined, maxBytes);
    }

    /// <summary>
    /// The first index in <paramref name="entries"/> whose term differs from ours or that we lack, or 0
    /// when we already hold all of them (§5.3: delete the conflicting entry and all that follow it).
    /// </summary>
    public ulong FindConflict(ReadOnlySpan<Entry> entries)
    {
        foreach (ref readonly Entry entry in entries)
        {
            if (!MatchTerm(entry.Index, entry.Term))
            {
                return entry.Index;
            }
        }

        return 0;
    }

    /// <summary>
    /// The largest index ≤ <paramref name="index"/> whose term is ≤ <paramref name="term"/>: where a
    /// log ending at <paramref name="index"/> with <paramref name="term"/> may still match ours
    /// (fast backtracking, §5.3 last paragraphs).
    /// </summary>
    public ulong FindConflictByTerm(ulong index, ulong term)
    {
        ulong last = LastIndex;
        if (index > last)
        {
            return index;
        }

        while (index > 0 && Term(index) > term)
        {
            index--;
        }

        return index;
    }

    /// <summary>Appends entries whose first index is at most LastIndex + 1, truncating a conflicting tail.</summary>
    public void Append(ReadOnlySpan<Entry> entries)
    {
        if (entries.IsEmpty)
        {
            return;
        }

        ulong first = entries[0].Index;
        Invariant.Check(first > Committed, $"truncation at {first} would remove committed entries (commit {Committed})");
        Invariant.Check(first <= LastIndex + 1, $"append at {first} leaves a gap after {LastIndex}");
        if (first <= LastIndex)
        {
            TruncateFrom(first);
        }

        EnsureRoom(entries.Length);
        entries.CopyTo(_buffer.AsSpan(_end));
        _end += entries.Length;
    }

    /// <summary>Appends one entry at LastIndex + 1 (the leader's path).</summary>
    public void AppendOne(in Entry entry)
    {
        Invariant.Check(entry.Index == LastIndex + 1, $"leader append at {entry.Index} after {LastIndex}");
        EnsureRoom(1);
        _buffer[_end] = entry;
        _end++;
    }

    private void TruncateFrom(ulong index)
    {
        var fresh = new Entry[Math.Max(UnstableCapacityMinEntries, UnstableCount * 2)];
        _bufferShared = false;
        int keep = 0;
        if (index > _unstableOffset)
        {
            keep = (int)(index - _unstableOffset);
            Array.Copy(_buffer, _start, fresh, 0, keep);
        }
        else
        {
            _unstableOffset = index;
        }

        _buffer = fresh;
        _start = 0;
        _end = keep;
    }

    private void EnsureRoom(int extra)
    {
        if (_end + extra <= _buffer.Length)
        {
            return;
        }

        int count = UnstableCount;
        var fresh = new Entry[Math.Max(UnstableCapacityMinEntries, (count + extra) * 2)];
        _bufferShared = false;
        Array.Copy(_buffer, _start, fresh, 0, count);
        _buffer = fresh;
        _start = 0;
        _end = count;
    }

    /// <summary>The host made every unstable entry up to <paramref name="index"/> durable.</summary>
    public void StableTo(ulong index)
    {
        if (UnstableCount == 0 || index < _unstableOffset)
        {
            return;
        }

        int stable = (int)Math.Min((ulong)UnstableCount, index - _unstableOffset + 1);
        _start += stable;
        _unstableOffset += (ulong)stable;
        if (_start == _end && !_bufferShared)
        {
            // Nothing references the buffer (the host is done with the Ready): reuse it from the start.
            _start = 0;
            _end = 0;
        }
        Invariant.Check(_storage.LastIndex >= _unstableOffset - 1, $"host reported entries up to {index} durable but storage ends at {_storage.LastIndex}");
    }

    public void CommitTo(ulong index)
    {
        if (index > Committed)
        {
            Invariant.Check(index <= LastIndex, $"commit {index} past last index {LastIndex}");
            Committed = index;
        }
    }

    /// <summary>Committed entries that are durable here and not yet applied, bounded by bytes.</summary>
    public ReadOnlyMemory<Entry> NextToApply(ulong maxBytes)
    {
        ulong last = Math.Min(Committed, DurableLastIndex);
        if (last <= Applied)
        {
            return ReadOnlyMemory<Entry>.Empty;
        }

        return _storage.Entries(Applied + 1, last + 1, maxBytes);
    }

    public bool HasNextToApply => Math.Min(Committed, DurableLastIndex) > Applied;

    public void AppliedTo(ulong index)
    {
        Invariant.Check(index >= Applied && index <= Committed, $"applied {index} outside [{Applied},{Committed}]");
        Applied = index;
    }
}
