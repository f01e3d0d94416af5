using System.Buffers.Binary;
using Ledger.Consensus;
using Ledger.Sdk;
using Ledger.Storage;

namespace Ledger.Replication;

/// <summary>
/// The durable Raft log and hard state of a member, in the node's key-value store under the prefix
/// <c>'r'</c>: <c>r h</c> → hard state (term, vote, commit; 24 bytes), <c>r e index</c> → entry
/// (term 8, kind 1, data). <see cref="Persist"/> writes entries and hard state in one synced batch,
/// replacing any conflicting tail, so a vote or an acknowledgement never leaves the node before what
/// it promises is on disk. Terms of all entries are kept in memory (8 bytes per entry) so that the
/// core's frequent term look-ups never touch the disk; recent entries are cached (bounded).
/// Not thread-safe: the node loop is its only user.
/// </summary>
internal sealed class RaftLogStore : IRaftStorage
{
    /// <summary>How many recent entries are kept in memory for replication to followers.</summary>
    public const int CachedEntriesMax = 4096;

    private const byte Prefix = (byte)'r';
    private const byte HardStateTag = (byte)'h';
    private const byte EntryTag = (byte)'e';
    private const byte VotesHeldTag = (byte)'v';
    private const int EntryHeaderBytes = 9;

    private readonly IKeyValueStore _store;
    private readonly Membership _genesis;
    private readonly List<ulong> _terms = [0];
    private readonly Dictionary<ulong, Entry> _cache = [];
    private HardState _hardState;

    public RaftLogStore(IKeyValueStore store, Membership genesisMembership)
    {
        _store = store;
        _genesis = genesisMembership;
        _hardState = LoadHardState(store);
        LoadTerms();
    }

    public RaftInitialState InitialState => new(_hardState, _genesis);

    /// <summary>
    /// True while the member holds its votes (<see cref="RaftNode.HoldVotes"/>): from the start that
    /// created this log empty (<see cref="StageVotesHeld"/>) until <see cref="ReleaseVotes"/>.
    /// </summary>
    public bool VotesHeld => HoldsVotes(_store);

    /// <summary>Marks, in <paramref name="write"/>, a log created empty: its member holds its votes.</summary>
    public static void StageVotesHeld(IKeyValueBatch write) => write.Put(VotesHeldKey(), [1]);

    /// <summary>True when the Raft log in <paramref name="store"/> belongs to a member that holds its votes (read without opening the log).</summary>
    public static bool HoldsVotes(IKeyValueStore store) => store.Get(VotesHeldKey()) is not null;

    /// <summary>
    /// Durably deletes the mark: by the node once it released its votes and the hard state it then
    /// wrote is on disk (<see cref="ReleaseVotes"/>), or by the operator with the node stopped
    /// (<c>ledger-node release-votes</c>), so that the next start votes and campaigns at once.
    /// </summary>
    public static void DeleteVotesHeldMark(IKeyValueStore store)
    {
        using var write = store.CreateBatch();
        write.Delete(VotesHeldKey());
        store.Write(write, sync: true);
    }

    /// <summary>Durably ends the hold, once the node released it and the hard state it then wrote is on disk.</summary>
    public void ReleaseVotes() => DeleteVotesHeldMark(_store);

    public HardState HardState => _hardState;

    public ulong LastIndex => (ulong)_terms.Count - 1;

    public ulong Term(ulong index)
    {
        Invariant.Check(index <= LastIndex);
        return _terms[(int)index];
    }

    public ReadOnlyMemory<Entry> Entries(ulong fromIndex, ulong toIndexExclusive, ulong maxBytes)
    {
        Invariant.Check(fromIndex >= 1 && fromIndex <= toIndexExclusive && toIndexExclusive <= LastIndex + 1);
        var entries = new List<Entry>();
        ulong bytes = 0;
        for (var index = fromIndex; index < toIndexExclusive; index++)
        {
            var entry = Read(index);
            bytes += entry.SizeBytes;
            if (entries.Count > 0 && bytes > maxBytes)
            {
                break;
            }

            entries.Add(entry);
        }

        return entries.ToArray();
    }

    /// <summary>
    /// Durably stores <paramref name="entries"/> (the first may overwrite the log from its index on)
    /// and, if given, the hard state, in one synced write.
    /// </summary>
    public void Persist(ReadOnlySpan<Entry> entries, HardState? hardState)
    {
        if (entries.IsEmpty && hardState is null)
        {
            return;
        }

        using var write = _store.CreateBatch();
        if (!entries.IsEmpty)
        {
            StageEntries(write, entries);
        }

        if (hardState is { } state)
        {
            write.Put(HardStateKey(), EncodeHardState(state));
        }

        _store.Write(write, sync: true);
        if (!entries.IsEmpty)
        {
            Remember(entries);
        }

        if (hardState is { } persisted)
        {
            Invariant.Check(persisted.Term >= _hardState.Term);
            _hardState = persisted;
        }
    }

    private void StageEntries(IKeyValueBatch write, ReadOnlySpan<Entry> entries)
    {
        var first = entries[0].Index;
        Invariant.Check(first >= 1 && first <= LastIndex + 1);
        for (var index = first + (ulong)entries.Length; index <= LastIndex; index++)
        {
            write.Delete(EntryKey(index));
        }

        for (var i = 0; i < entries.Length; i++)
        {
            Invariant.Check(entries[i].Index == first + (ulong)i);
            write.Put(EntryKey(entries[i].Index), EncodeEntry(entries[i]));
        }
    }

    private void Remember(ReadOnlySpan<Entry> entries)
    {
        var first = (int)entries[0].Index;
        for (var index = first; index < _terms.Count; index++)
        {
            _cache.Remove((ulong)index);
        }

        _terms.RemoveRange(first, _terms.Count - first);
        foreach (var entry in entries)
        {
            _terms.Add(entry.Term);
            _cache[entry.Index] = entry;
        }

        var oldest = LastIndex > CachedEntriesMax ? LastIndex - CachedEntriesMax : 0;
        foreach (var index in _cache.Keys.Where(i => i <= oldest).ToList())
        {
            _cache.Remove(index);
        }
    }

    private Entry Read(ulong index)
    {
        if (_cache.TryGetValue(index, out var cached))
        {
            return cached;
        }

        var bytes = _store.Get(EntryKey(index)) ?? throw new StorageCorruptException($"raft log entry {index} is missing");
        return DecodeEntry(index, bytes);
    }

    private void LoadTerms()
    {
        var expected = 1UL;
        foreach (var (key, value) in _store.Scan(EntryKey(1), [Prefix, (byte)(EntryTag + 1)]))
        {
            var index = BinaryPrimitives.ReadUInt64BigEndian(key.AsSpan(2));
            if (index != expected || value.Length < EntryHeaderBytes)
            {
                throw new StorageCorruptException($"raft log is damaged at index {index} (expected entry {expected})");
            }

            _terms.Add(BinaryPrimitives.ReadUInt64BigEndian(value));
            expected++;
        }
    }

    private static HardState LoadHardState(IKeyValueStore store)
    {
        var bytes = store.Get(HardStateKey());
        if (bytes is null)
        {
            return default;
        }

        if (bytes.Length != 24)
        {
            throw new StorageCorruptException($"raft hard state has {bytes.Length} bytes, not 24");
        }

        return new HardState(
            BinaryPrimitives.ReadUInt64BigEndian(bytes),
            BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(8)),
            BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(16)));
    }

    private static byte[] HardStateKey() => [Prefix, HardStateTag];

    private static byte[] VotesHeldKey() => [Prefix, VotesHeldTag];

    private static byte[] EntryKey(ulong index)
    {
        var key = new byte[10];
        key[0] = Prefix;
        key[1] = EntryTag;
        BinaryPrimitives.WriteUInt64BigEndian(key.AsSpan(2), index);
        return key;
    }

    private static byte[] EncodeHardState(HardState state)
    {
        var bytes = new byte[24];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, state.Term);
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(8), state.Vote);
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(16), state.Commit);
        return bytes;
    }

    private static byte[] EncodeEntry(Entry entry)
    {
        var bytes = new byte[EntryHeaderBytes + entry.Data.Length];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, entry.Term);
        bytes[8] = (byte)entry.Kind;
        entry.Data.Span.CopyTo(bytes.AsSpan(EntryHeaderBytes));
        return bytes;
    }

    private static Entry DecodeEntry(ulong index, byte[] bytes)
    {
        if (bytes.Length < EntryHeaderBytes || bytes[8] > (byte)EntryKind.MembershipChange)
        {
            throw new StorageCorruptException($"raft log entry {index} is damaged");
        }

        return new Entry(BinaryPrimitives.ReadUInt64BigEndian(bytes), index, (EntryKind)bytes[8], bytes.AsMemory(EntryHeaderBytes));
    }
}
