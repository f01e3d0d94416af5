using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Ledger.Sdk;

namespace Ledger.Replication;

/// <summary>
/// Raft node ids of members: the first 8 bytes (big-endian) of SHA-256("ledger member id\n" || name),
/// never 0. Derived from the name alone, so every member computes the same id for every other
/// member from the consortium file, whatever the order of its members.
/// </summary>
internal static class MemberIds
{
    public static ulong Of(string memberName)
    {
        var hash = SHA256.HashData(Encoding.ASCII.GetBytes("ledger member id\n" + memberName));
        var id = BinaryPrimitives.ReadUInt64BigEndian(hash);
        return id == 0 ? 1 : id;
    }

    /// <summary>Member name by id, for every member of the consortium.</summary>
    public static IReadOnlyDictionary<ulong, ConsortiumMember> Index(Consortium consortium)
    {
        var byId = new Dictionary<ulong, ConsortiumMember>();
        foreach (var member in consortium.Members)
        {
            if (!byId.TryAdd(Of(member.Id), member))
            {
                throw new FormatException($"members '{member.Id}' and '{byId[Of(member.Id)].Id}' have the same raft id; rename one");
            }
        }

        return byId;
    }
}
