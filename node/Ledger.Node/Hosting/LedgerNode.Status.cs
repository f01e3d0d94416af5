using Grpc.Core;
using Ledger.Node.Replicated;
using Ledger.Sdk.Protos.V1;

namespace Ledger.Node.Hosting;

internal sealed partial class LedgerNode
{
    /// <summary>How long a status call waits for each other member's own row.</summary>
    public static readonly TimeSpan MemberStatusDeadline = TimeSpan.FromMilliseconds(700);

    /// <summary>
    /// The consortium as this node sees it: its own row from its own state, the other members' rows
    /// asked from them (unless <paramref name="localOnly"/>), "unreachable" for members that do not answer.
    /// </summary>
    public async Task<GetStatusResponse> StatusAsync(bool localOnly, CancellationToken cancellationToken)
    {
        var applied = State.Applied;
        var response = new GetStatusResponse
        {
            Origin = Consortium.Origin,
            Member = MemberKey.Name,
            Leader = Replica is null ? MemberKey.Name : Replica.LeaderName ?? "",
            TreeSize = applied.TreeSize,
            MaxDigestsPerRequest = (uint)Options.DigestsPerRequestMax,
            NonceWindowMs = Options.NonceWindowMs,
            Checkpoint = Signer.Latest.Text,
            Activity = localOnly ? null : Metrics?.Activity(),
        };
        var others = Consortium.Members.Where(m => m.Id != MemberKey.Name && !localOnly)
            .Select(m => (m.Id, Answer: AskStatusAsync(m.Id, cancellationToken)))
            .ToList();
        foreach (var member in Consortium.Members)
        {
            if (member.Id == MemberKey.Name)
            {
                response.Members.Add(OwnRow(AddressOf(member) ?? Options.Listen));
            }
            else if (!localOnly)
            {
                // The address is where this node reaches the member (pinned, or found by discovery), not the member's own idea of it.
                var row = await others.First(o => o.Id == member.Id).Answer ?? new MemberStatus { Id = member.Id, Role = "unreachable" };
                row.Address = AddressOf(member) ?? "";
                response.Members.Add(row);
            }
        }

        var leaderCommit = response.Members.FirstOrDefault(m => m.Role == "leader")?.CommitIndex ?? 0;
        foreach (var row in response.Members)
        {
            row.Lag = row.Role != "unreachable" && leaderCommit > row.AppliedIndex ? leaderCommit - row.AppliedIndex : 0;
        }

        return response;
    }

    private string? AddressOf(Sdk.ConsortiumMember member) => Replica?.Peers.AddressOf(member.Id) ?? member.Address;

    private MemberStatus OwnRow(string? address)
    {
        var applied = State.Applied;
        if (Replica is null)
        {
            return new MemberStatus
            {
                Id = MemberKey.Name,
                Address = address ?? "",
                Role = "leader",
                Term = 1,
                CommitIndex = applied.BatchIndex,
                AppliedIndex = applied.BatchIndex,
                TreeSize = applied.TreeSize,
            };
        }

        var raft = Replica.Host.Status;
        return new MemberStatus
        {
            Id = MemberKey.Name,
            Address = address ?? "",
            Role = ReplicaMember.RoleName(raft.Role),
            VotesHeld = raft.VotesHeld,
            Term = raft.Term,
            CommitIndex = raft.CommitIndex,
            AppliedIndex = AppliedLogIndex,
            TreeSize = applied.TreeSize,
        };
    }

    private async Task<MemberStatus?> AskStatusAsync(string memberId, CancellationToken cancellationToken)
    {
        if (Replica?.Members.For(memberId) is not { } client)
        {
            return null;
        }

        try
        {
            var answer = await client.GetStatusAsync(
                new GetStatusRequest { LocalOnly = true },
                deadline: DateTime.UtcNow + MemberStatusDeadline,
                cancellationToken: cancellationToken);
            var row = answer.Members.FirstOrDefault(m => m.Id == memberId);
            return answer.Origin == Consortium.Origin ? row : null;
        }
        catch (RpcException)
        {
            return null;
        }
    }
}
