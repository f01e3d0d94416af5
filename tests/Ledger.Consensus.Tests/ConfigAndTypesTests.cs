using CsCheck;
using Ledger.Consensus;

namespace Ledger.Consensus.Tests;

public sealed class ConfigAndTypesTests
{
    public static TheoryData<string, RaftConfig> InvalidConfigs()
    {
        var valid = new RaftConfig { NodeId = 1 };
        return new TheoryData<string, RaftConfig>
        {
            { "NodeId", valid with { NodeId = 0 } },
            { "ElectionTimeoutTicks", valid with { ElectionTimeoutTicks = 1 } },
            { "HeartbeatTicks", valid with { HeartbeatTicks = 0 } },
            { "HeartbeatTicks", valid with { HeartbeatTicks = 10 } },
            { "MaxInflightMessages", valid with { MaxInflightMessages = 0 } },
            { "MaxInflightBytes", valid with { MaxInflightBytes = 0 } },
            { "MaxEntriesPerMessage", valid with { MaxEntriesPerMessage = 0 } },
            { "MaxMessageBytes", valid with { MaxMessageBytes = 0 } },
            { "MaxProbeBytes", valid with { MaxProbeBytes = 0 } },
            { "MaxEntryBytes", valid with { MaxEntryBytes = valid.MaxMessageBytes } },
            { "MaxUncommittedBytes", valid with { MaxUncommittedBytes = 1 } },
            { "MaxApplyBytesPerReady", valid with { MaxApplyBytesPerReady = 1 } },
            { "MaxPendingReads", valid with { MaxPendingReads = 0 } },
            { "MaxProposalBatchEntries", valid with { MaxProposalBatchEntries = 0 } },
        };
    }

    [Theory]
    [MemberData(nameof(InvalidConfigs))]
    public void Every_limit_is_validated_at_construction(string limit, RaftConfig config)
    {
        var storage = new MemoryRaftStorage(new Membership([1]));
        ArgumentException error = Assert.Throws<ArgumentException>(() => new RaftNode(config, storage, new SplitMix64Random(1)));
        Assert.Equal(limit, error.ParamName);
    }

    [Fact]
    public void The_default_config_is_valid()
    {
        var node = new RaftNode(new RaftConfig { NodeId = 1 }, new MemoryRaftStorage(new Membership([1])), new SplitMix64Random(1));
        Assert.Equal(RaftRole.Follower, node.Role);
    }

    [Fact]
    public void Membership_changes_round_trip_through_entry_data() =>
        Gen.Select(Gen.Byte[1, 3], Gen.ULong[1, ulong.MaxValue]).Sample((kind, id) =>
        {
            var change = new MembershipChange((MembershipChangeKind)kind, id);
            return MembershipChange.TryDecode(change.Encode(), out MembershipChange decoded) && decoded == change;
        });

    [Fact]
    public void Membership_change_decoding_rejects_malformed_data()
    {
        Assert.False(MembershipChange.TryDecode([], out _));
        Assert.False(MembershipChange.TryDecode(new byte[8], out _));
        Assert.False(MembershipChange.TryDecode(new byte[10], out _));
        Assert.False(MembershipChange.TryDecode([4, 0, 0, 0, 0, 0, 0, 0, 1], out _));
        Assert.False(MembershipChange.TryDecode([1, 0, 0, 0, 0, 0, 0, 0, 0], out _)); // node id 0
    }

    [Fact]
    public void Membership_refuses_non_changes_and_overlaps()
    {
        var membership = new Membership([1, 2, 3], [4]);
        Assert.Null(membership.TryApply(new MembershipChange(MembershipChangeKind.AddVoter, 2), out string? why));
        Assert.NotNull(why);
        Assert.Null(membership.TryApply(new MembershipChange(MembershipChangeKind.AddLearner, 4), out _));
        Assert.Null(membership.TryApply(new MembershipChange(MembershipChangeKind.Remove, 9), out _));
        Membership promoted = membership.TryApply(new MembershipChange(MembershipChangeKind.AddVoter, 4), out _)!;
        Assert.Equal([1UL, 2, 3, 4], promoted.Voters);
        Assert.Empty(promoted.Learners);
        Assert.Equal(3, promoted.QuorumSize);
        Assert.Throws<ArgumentException>(() => new Membership([1, 2], [2]));
        Assert.Throws<ArgumentException>(() => new Membership([0, 1]));
    }

    [Fact]
    public void Quorum_is_a_strict_majority_of_voters()
    {
        Assert.Equal(1, new Membership([1]).QuorumSize);
        Assert.Equal(2, new Membership([1, 2]).QuorumSize);
        Assert.Equal(2, new Membership([1, 2, 3], [4, 5]).QuorumSize);
        Assert.Equal(3, new Membership([1, 2, 3, 4]).QuorumSize);
        Assert.Equal(3, new Membership([1, 2, 3, 4, 5]).QuorumSize);
    }

    [Fact]
    public void Inflights_free_in_order_and_bound_messages_and_bytes() =>
        Gen.Int[1, 40].Array[1, 30].Sample(sizes =>
        {
            var inflights = new Inflights(8, 100);
            ulong index = 0;
            int added = 0;
            foreach (int size in sizes)
            {
                if (inflights.Full)
                {
                    inflights.FreeUpTo(index - 1); // frees all but the last
                    if (inflights.Count != 1)
                    {
                        return false;
                    }
                }

                index += 3;
                inflights.Add(index, (ulong)size);
                added++;
                if (inflights.Count > 8 || inflights.Bytes > 100 + 40)
                {
                    return false;
                }
            }

            inflights.FreeUpTo(index);
            return added == sizes.Length && inflights.Count == 0 && inflights.Bytes == 0 && !inflights.Full;
        });

    [Fact]
    public void Storage_refuses_gaps_and_keeps_handed_out_memory_intact()
    {
        var storage = new MemoryRaftStorage(new Membership([1]));
        storage.Append([new Entry(1, 1, EntryKind.Normal, new byte[] { 1 }), new Entry(1, 2, EntryKind.Normal, new byte[] { 2 })]);
        ReadOnlyMemory<Entry> before = storage.Entries(1, 3, ulong.MaxValue);
        storage.Append([new Entry(2, 2, EntryKind.Normal, new byte[] { 3 })]); // overwrite index 2
        Assert.Equal(1UL, before.Span[1].Term); // the earlier slice still shows what it showed
        Assert.Equal(2UL, storage.Term(2));
        Assert.Throws<InvariantException>(() => storage.Append([new Entry(2, 5, EntryKind.Normal, default)]));
        Assert.Single(storage.Entries(1, 3, 1).ToArray()); // a byte limit still yields one entry
    }
}
