using Grpc.Core;
using Ledger.Replication.Protos;
using Ledger.Sdk;

namespace Ledger.Replication;

/// <summary>
/// While this member holds its votes (its Raft log was created empty: a new consortium, or a member
/// replaced on an empty disk), asks every other member for its term and last log index over the
/// authenticated peer protocol and hands each answer to the host, until the node stops holding
/// (<see cref="Consensus.RaftNode"/>'s hold, RaftNode.Hold.cs, says when). Members are asked again
/// every round, so a member that did not answer is asked again.
/// </summary>
internal sealed class HeldVotesProbe(PeerContext peers) : IAsyncDisposable
{
    /// <summary>Pause between two rounds of questions.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(200);

    /// <summary>How long one member may take to answer.</summary>
    public static readonly TimeSpan CallDeadline = TimeSpan.FromSeconds(1);

    private readonly ChannelCache _channels = new();
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    /// <summary>Starts asking if the host holds its votes; otherwise does nothing.</summary>
    public void Start()
    {
        if (peers.Host is { Status.VotesHeld: true } host)
        {
            _loop = Task.Run(() => RunAsync(host, _stop.Token));
        }
    }

    private async Task RunAsync(RaftHost host, CancellationToken cancellationToken)
    {
        var others = peers.MembersById.Where(member => member.Key != peers.SelfId).ToArray();
        try
        {
            while (host.Status.VotesHeld)
            {
                await Task.WhenAll(others.Select(member => AskAsync(host, member.Key, member.Value, cancellationToken)));
                await Task.Delay(Interval, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    private async Task AskAsync(RaftHost host, ulong memberId, ConsortiumMember member, CancellationToken cancellationToken)
    {
        if (peers.AddressOf(member.Id) is not { } address)
        {
            return;
        }

        try
        {
            var client = new Peer.PeerClient(_channels.For(address));
            var (headers, nonce) = peers.CallHeaders(member.Id);
            using var call = client.RaftStateAsync(new Ack(), headers, DateTime.UtcNow + CallDeadline, cancellationToken);
            if (!peers.AnsweredAs(await call.ResponseHeadersAsync, nonce, member.Id, out _))
            {
                return; // Not the member: its answer counts for nothing.
            }

            var answer = await call.ResponseAsync;
            host.ObservePeer(memberId, answer.Term, answer.LastIndex, answer.LastTerm);
        }
        catch (RpcException)
        {
            // Down, unreachable or still starting: asked again next round.
        }
        catch (HttpRequestException)
        {
            // As above.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_loop is not null)
        {
            await _loop.ContinueWith(_ => { }, TaskScheduler.Default);
        }

        _channels.Dispose();
        _stop.Dispose();
    }
}
