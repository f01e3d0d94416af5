using Grpc.Net.Client;

namespace Ledger.Replication;

/// <summary>
/// One gRPC channel (one HTTP/2 connection) per address, made on first use and kept until disposed.
/// Keyed by address, so a member found at a new address gets a new channel. Bounded by the
/// addresses the consortium file and verified discoveries ever gave.
/// </summary>
internal sealed class ChannelCache(GrpcChannelOptions? options = null) : IDisposable
{
    private readonly Dictionary<string, GrpcChannel> _channels = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    public GrpcChannel For(string address)
    {
        lock (_gate)
        {
            if (!_channels.TryGetValue(address, out var channel))
            {
                channel = options is null ? GrpcChannel.ForAddress(address) : GrpcChannel.ForAddress(address, options);
                _channels[address] = channel;
            }

            return channel;
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
