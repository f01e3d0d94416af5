using Grpc.Net.Client;
using Ledger.Sdk.Client;

namespace Ledger.Replication;

/// <summary>
/// One gRPC channel (one HTTP/2 connection) per address, made on first use and kept until disposed.
/// Keyed by address, so a member found at a new address gets a new channel. Bounded by the
/// addresses the consortium file and verified discoveries ever gave.
/// </summary>
/// <remarks>Its channels connect again to a member that was down within <see cref="ReconnectBackoff.Max"/>.</remarks>
internal sealed class ChannelCache(Action<GrpcChannelOptions>? configure = null) : IDisposable
{
    private readonly Dictionary<string, GrpcChannel> _channels = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    public GrpcChannel For(string address)
    {
        lock (_gate)
        {
            if (!_channels.TryGetValue(address, out var channel))
            {
                var options = ReconnectBackoff.Apply(new GrpcChannelOptions
                {
                    HttpHandler = new SocketsHttpHandler
                    {
                        ConnectTimeout = GrpcPeerTransport.PeerConnectTimeout,
                        EnableMultipleHttp2Connections = true,
                    },
                });
                configure?.Invoke(options);
                channel = GrpcChannel.ForAddress(address, options);
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
