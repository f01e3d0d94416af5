using System.Globalization;
using System.Text;
using Ledger.Consensus;

namespace Ledger.Consensus.Tests;

/// <summary>Stable text renderings of entries, messages and node status for traces.</summary>
internal static class Format
{
    public static string Entry(in Entry entry)
    {
        string body = entry.Kind switch
        {
            EntryKind.Empty => "empty",
            EntryKind.MembershipChange when MembershipChange.TryDecode(entry.Data.Span, out MembershipChange change) =>
                $"change {KindName(change.Kind)} {change.NodeId}",
            EntryKind.MembershipChange => "change ?",
            _ => Data(entry.Data.Span),
        };
        return $"{entry.Index}/{entry.Term} {body}";
    }

    public static string KindName(MembershipChangeKind kind) => kind switch
    {
        MembershipChangeKind.AddVoter => "add-voter",
        MembershipChangeKind.AddLearner => "add-learner",
        _ => "remove",
    };

    public static string Data(ReadOnlySpan<byte> data)
    {
        foreach (byte b in data)
        {
            if (b < 0x20 || b > 0x7e)
            {
                return "0x" + Convert.ToHexStringLower(data);
            }
        }

        return "\"" + Encoding.ASCII.GetString(data) + "\"";
    }

    public static string Entries(ReadOnlySpan<Entry> entries)
    {
        var text = new StringBuilder("[");
        for (int i = 0; i < entries.Length; i++)
        {
            text.Append(i == 0 ? string.Empty : ", ").Append(Entry(entries[i]));
        }

        return text.Append(']').ToString();
    }

    public static string Message(in Message m)
    {
        var text = new StringBuilder().Append(CultureInfo.InvariantCulture, $"{m.From}->{m.To} {m.Kind} term={m.Term}");
        switch (m.Kind)
        {
            case MessageKind.Append:
                text.Append(CultureInfo.InvariantCulture, $" prev={m.Index}/{m.LogTerm} commit={m.Commit}");
                if (!m.Entries.IsEmpty)
                {
                    text.Append(' ').Append(Entries(m.Entries.Span));
                }

                break;
            case MessageKind.AppendResponse when m.Reject:
                text.Append(CultureInfo.InvariantCulture, $" reject index={m.Index} hint={m.RejectHint}/{m.LogTerm}");
                break;
            case MessageKind.AppendResponse:
                text.Append(CultureInfo.InvariantCulture, $" index={m.Index}");
                break;
            case MessageKind.Vote:
            case MessageKind.PreVote:
                text.Append(CultureInfo.InvariantCulture, $" last={m.Index}/{m.LogTerm}").Append(m.LeaderTransfer ? " transfer" : string.Empty);
                break;
            case MessageKind.VoteResponse:
            case MessageKind.PreVoteResponse:
                text.Append(m.Reject ? " reject" : " granted");
                break;
            case MessageKind.Heartbeat:
                text.Append(CultureInfo.InvariantCulture, $" commit={m.Commit} ctx={m.Context}");
                break;
            case MessageKind.HeartbeatResponse:
                text.Append(CultureInfo.InvariantCulture, $" ctx={m.Context}");
                break;
            default:
                break;
        }

        return text.ToString();
    }

    public static string Status(RaftNode node) =>
        $"n{node.Id}: {node.Role} term={node.Term} vote={node.Vote} leader={node.LeaderId} commit={node.CommitIndex} applied={node.AppliedIndex} last={node.LastIndex} {node.Membership}"
        + (node.VotesHeld ? " held" : "");
}
