using Ledger.Consensus;
using Ledger.Replication;

namespace Ledger.Node.Replicated;

/// <summary>
/// Logs each change of the leader a member knows: who leads from which term (event 7401), and when
/// the leader it knew is gone and an election runs (event 7402). An operator reads the consortium's
/// history of leaders from these lines; a member that logs 7402 often has a network or a peer that
/// does not keep up.
/// </summary>
internal sealed partial class LeaderChangeLog(PeerContext peers, ILogger logger)
{
    public void Changed(RaftStatus before, RaftStatus after)
    {
        var role = Role(after);
        if (after.LeaderId != 0)
        {
            var leader = Name(after.LeaderId);
            LogLeader(leader, after.Term, role);
        }
        else if (before.LeaderId != 0)
        {
            var leader = Name(before.LeaderId);
            LogNoLeader(leader, after.Term, role);
        }
    }

    private static string Role(RaftStatus status) => status.Role.ToString().ToLowerInvariant();

    private string Name(ulong id) => peers.MembersById.TryGetValue(id, out var member) ? member.Id : $"#{id:x16}";

    [LoggerMessage(EventId = 7401, Level = LogLevel.Information, Message = "member {Leader} leads in term {Term}; this member is {Role}")]
    private partial void LogLeader(string leader, ulong term, string role);

    [LoggerMessage(EventId = 7402, Level = LogLevel.Information,
        Message = "member {Leader} no longer leads as far as this member knows (term {Term}, this member is {Role}): an election is under way")]
    private partial void LogNoLeader(string leader, ulong term, string role);
}
