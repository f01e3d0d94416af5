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

    /// <summary>At start, when the Raft log was created empty (event 7403).</summary>
    public void VotesHeld() => LogVotesHeld();

    /// <summary>Once a member that held its votes votes again (event 7404).</summary>
    public void VotesReleased(RaftStatus status) => LogVotesReleased(status.Term, status.LastIndex);

    private static string Role(RaftStatus status) => status.Role.ToString().ToLowerInvariant();

    private string Name(ulong id) => peers.MembersById.TryGetValue(id, out var member) ? member.Id : $"#{id:x16}";

    [LoggerMessage(EventId = 7401, Level = LogLevel.Information, Message = "member {Leader} leads in term {Term}; this member is {Role}")]
    private partial void LogLeader(string leader, ulong term, string role);

    [LoggerMessage(EventId = 7402, Level = LogLevel.Information,
        Message = "member {Leader} no longer leads as far as this member knows (term {Term}, this member is {Role}): an election is under way")]
    private partial void LogNoLeader(string leader, ulong term, string role);

    [LoggerMessage(EventId = 7403, Level = LogLevel.Information,
        Message = "this member's Raft log was created empty (a new consortium, or a member replaced on an empty disk): it neither votes nor campaigns until every other member has told it its term and it holds what a leader committed (docs/consortium.md, \"Replaced member\")")]
    private partial void LogVotesHeld();

    [LoggerMessage(EventId = 7404, Level = LogLevel.Information,
        Message = "this member votes again: every other member answered and its log is safe to vote with (term {Term}, last log index {LastIndex})")]
    private partial void LogVotesReleased(ulong term, ulong lastIndex);
}
