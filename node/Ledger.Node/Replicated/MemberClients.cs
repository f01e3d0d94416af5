using Grpc.Net.Client;
using Ledger.Sdk;
using LedgerApi = Ledger.Sdk.Protos.V1.Ledger;

namespace Ledger.Node.Replicated;

/// <summary>One public-API client per other member, made on first use and kept (one HTTP/2 connection each).</summary>
internal sealed class MemberClients(Consortium consortium, int messageBytesMax) : IDisposable
{
    private readonly Dictionary<string, GrpcChannel> _channels = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>The client for member <paramref name="memberId"/>, or null when the consortium file gives it no address.</summary>
    public LedgerApi.LedgerClient? For(string memberId)
    {
        var member = consortium.FindMember(memberId);
        if (member?.Address is null)
        {
            return null;
        }

        lock (_gate)
        {
            if (!_channels.TryGetValue(memberId, out var channel))
            {
                channel = GrpcChannel.ForAddress(member.Address, new GrpcChannelOptions
                {
                    MaxSendMessageSize = messageBytesMax,
                    MaxReceiveMessageSize = 64 * 1024 * 1024,
                });
                _channels[memberId] = channel;
            }

            return new LedgerApi.LedgerClient(channel);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var channel in _channels.Values)
            {
                channel.Dispose();
            }

            _channels.Clear();
        }
    }
}
