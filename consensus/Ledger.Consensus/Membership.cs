using System.Buffers.Binary;

namespace Ledger.Consensus;

/// <summary>The kinds of single-step membership changes.</summary>
public enum MembershipChangeKind : byte
{
    /// <summary>Adds a voter, or promotes a learner to voter.</summary>
    AddVoter = 1,

    /// <summary>Adds a non-voting learner that receives the log.</summary>
    AddLearner = 2,

    /// <summary>Removes a voter or learner.</summary>
    Remove = 3,
}

/// <summary>A change of one member: the voter set changes by at most one node (Raft dissertation §4.1).</summary>
/// <param name="Kind">What to do.</param>
/// <param name="NodeId">Which node.</param>
public readonly record struct MembershipChange(MembershipChangeKind Kind, ulong NodeId)
{
    /// <summary>Bytes of an encoded change.</summary>
    public const int EncodedBytes = 9;

    /// <summary>Encodes the change as entry data: kind byte, then the node id big-endian.</summary>
    public byte[] Encode()
    {
        var bytes = new byte[EncodedBytes];
        bytes[0] = (byte)Kind;
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(1), NodeId);
        return bytes;
    }

    /// <summary>Decodes entry data written by <see cref="Encode"/>; false for anything else.</summary>
    public static bool TryDecode(ReadOnlySpan<byte> data, out MembershipChange change)
    {
        change = default;
        if (data.Length != EncodedBytes || data[0] < 1 || data[0] > 3)
        {
            return false;
        }

        ulong nodeId = BinaryPrimitives.ReadUInt64BigEndian(data[1..]);
        if (nodeId == 0)
        {
            return false;
        }

        change = new MembershipChange((MembershipChangeKind)data[0], nodeId);
        return true;
    }
}

/// <summary>An immutable set of voters and learners, each sorted ascending.</summary>
public sealed class Membership : IEquatable<Membership>
{
    /// <summary>Upper bound on voters plus learners; keeps quorum arithmetic and scratch buffers small.</summary>
    public const int MembersMax = 64;

    private readonly ulong[] _voters;
    private readonly ulong[] _learners;

    /// <summary>Creates a membership; ids must be non-zero, distinct, and a node is never both voter and learner.</summary>
    public Membership(IEnumerable<ulong> voters, IEnumerable<ulong>? learners = null)
    {
        _voters = [.. voters.Distinct().Order()];
        _learners = [.. (learners ?? []).Distinct().Order()];
        if (_voters.Length + _learners.Length > MembersMax)
        {
            throw new ArgumentException($"at most {MembersMax} members");
        }

        foreach (ulong id in _voters)
        {
            if (id == 0 || Array.BinarySearch(_learners, id) >= 0)
            {
                throw new ArgumentException($"node {id}: ids are non-zero and a node is voter or learner, not both");
            }
        }

        if (Array.IndexOf(_learners, 0UL) >= 0)
        {
            throw new ArgumentException("node id 0 is reserved");
        }
    }

    /// <summary>Voters, ascending.</summary>
    public IReadOnlyList<ulong> Voters => _voters;

    /// <summary>Learners, ascending.</summary>
    public IReadOnlyList<ulong> Learners => _learners;

    internal ulong[] VoterArray => _voters;

    internal ulong[] LearnerArray => _learners;

    /// <summary>True when <paramref name="nodeId"/> votes.</summary>
    public bool IsVoter(ulong nodeId) => Array.BinarySearch(_voters, nodeId) >= 0;

    /// <summary>True when <paramref name="nodeId"/> is a learner.</summary>
    public bool IsLearner(ulong nodeId) => Array.BinarySearch(_learners, nodeId) >= 0;

    /// <summary>Votes needed to win an election or commit an entry: a strict majority of voters.</summary>
    public int QuorumSize => (_voters.Length / 2) + 1;

    /// <summary>
    /// The membership after <paramref name="change"/>, or null with a reason when the change is not a
    /// real single-step change (already applied, removal of an unknown node, too many members).
    /// </summary>
    public Membership? TryApply(MembershipChange change, out string? reason)
    {
        reason = null;
        ulong id = change.NodeId;
        switch (change.Kind)
        {
            case MembershipChangeKind.AddVoter when IsVoter(id):
                reason = $"node {id} is already a voter";
                return null;
            case MembershipChangeKind.AddVoter:
                return Build(_voters.Append(id), _learners.Where(l => l != id), out reason);
            case MembershipChangeKind.AddLearner when IsVoter(id) || IsLearner(id):
                reason = $"node {id} is already a member";
                return null;
            case MembershipChangeKind.AddLearner:
                return Build(_voters, _learners.Append(id), out reason);
            case MembershipChangeKind.Remove when !IsVoter(id) && !IsLearner(id):
                reason = $"node {id} is not a member";
                return null;
            case MembershipChangeKind.Remove:
                return Build(_voters.Where(v => v != id), _learners.Where(l => l != id), out reason);
            default:
                reason = "unknown change kind";
                return null;
        }
    }

    private static Membership? Build(IEnumerable<ulong> voters, IEnumerable<ulong> learners, out string? reason)
    {
        var membership = new Membership(voters, learners);
        if (membership._voters.Length + membership._learners.Length > MembersMax)
        {
            reason = "too many members";
            return null;
        }

        reason = membership._voters.Length == 0 ? "a membership needs at least one voter" : null;
        return reason is null ? membership : null;
    }

    /// <inheritdoc/>
    public bool Equals(Membership? other) =>
        other is not null && _voters.AsSpan().SequenceEqual(other._voters) && _learners.AsSpan().SequenceEqual(other._learners);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as Membership);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var hash = default(HashCode);
        foreach (ulong v in _voters)
        {
            hash.Add(v);
        }

        hash.Add(0UL);
        foreach (ulong l in _learners)
        {
            hash.Add(l);
        }

        return hash.ToHashCode();
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"voters=({string.Join(",", _voters)}) learners=({string.Join(",", _learners)})";
}
