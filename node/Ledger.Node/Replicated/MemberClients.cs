using Grpc.Net.Client;
using LedgerApi = Ledger.Sdk.Protos.V1.Ledger;

namespace Ledger.Node.Replicated;

/// <summary>One public-API client per other member, made on first use and kept (one HTTP/2 connection each).</summary>
internal sealed class MemberClients(Func<string, string?> addressOf, int messageBytesMax) : IDisposable
{
    private readonly Dictionary<string, GrpcChannel> _channels = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>The client for member <paramref name="memberId"/>, or null when the consortium file gives it no address.</summary>
    public LedgerApi.LedgerClient? For(string memberId)
    {
        if (addressOf(memberId) is not { } address)
        {
            return null;
        }

        lock (_gate)
        {
            if (!_channels.TryGetValue(address, out var channel))
            {
                channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions
                {
                    MaxSendMessageSize = messageBytesMax,
                    MaxReceiveMessageSize = 64 * 1024 * 1024,
                });
                _channels[address] = channel;
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
