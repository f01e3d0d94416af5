using Grpc.Core;
using Grpc.Net.Client;
using Ledger.Replication.Protos;

namespace Ledger.Replication;

/// <summary>
/// Linearizable read points for this member: its own host's when it leads, otherwise the leader's,
/// asked over the authenticated peer protocol.
/// </summary>
internal sealed class LeaderReads(PeerContext peers) : IDisposable
{
    /// <summary>How long the leader may take to confirm its read point.</summary>
    public static readonly TimeSpan CallDeadline = TimeSpan.FromSeconds(2);

    private readonly ChannelCache _channels = new();

    /// <summary>A commit index such that, once applied here, a read sees every write acknowledged before the call.</summary>
    public async Task<ulong> ReadIndexAsync(CancellationToken cancellationToken)
    {
        var host = peers.Host ?? throw new NotLeaderException(0);
        var status = host.Status;
        if (status.Role == Consensus.RaftRole.Leader)
        {
            return await host.ReadIndexAsync(cancellationToken);
        }

        if (status.LeaderId == 0 || !peers.MembersById.TryGetValue(status.LeaderId, out var leader) || peers.AddressOf(leader.Id) is not { } address)
        {
            throw new NotLeaderException(0);
        }

        var client = new Peer.PeerClient(_channels.For(address));
        var (headers, nonce) = peers.CallHeaders(leader.Id);
        using var call = client.ReadIndexAsync(new ReadIndexRequest(), headers, DateTime.UtcNow + CallDeadline, cancellationToken);
        if (!peers.AnsweredAs(await call.ResponseHeadersAsync, nonce, leader.Id, out var error))
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, $"the leader's address did not answer as '{leader.Id}': {error}"));
        }

        return (await call.ResponseAsync).Index;
    }

    public void Dispose() => _channels.Dispose();
}
