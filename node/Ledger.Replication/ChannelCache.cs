using Grpc.Net.Client;

namespace Ledger.Replication;

/// <summary>
/// One gRPC channel (one HTTP/2 connection) per address, made on first use and kept until disposed.
/// Keyed by address, so a member found at a new address gets a new channel. Bounded by the
/// addresses the consortium file and verified discoveries ever gave.
/// </summary>
/// <remarks>
/// gRPC's own reconnect backoff starts at 1 s and grows to 2 min while connects fail, and calls fail at
/// once during it: a member back after some minutes down would get no cosigning requests, held-vote
/// questions or forwarded anchors for up to two more. Here it grows to <see cref="ReconnectBackoffMax"/>.
/// </remarks>
internal sealed class ChannelCache(Action<GrpcChannelOptions>? configure = null) : IDisposable
{
    /// <summary>Longest wait between two connects to an address that refuses or does not answer.</summary>
    public static readonly TimeSpan ReconnectBackoffMax = TimeSpan.FromSeconds(1);

    private readonly Dictionary<string, GrpcChannel> _channels = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    public GrpcChannel For(string address)
    {
        lock (_gate)
        {
            if (!_channels.TryGetValue(address, out var channel))
            {
                var options = new GrpcChannelOptions
                {
                    InitialReconnectBackoff = TimeSpan.FromMilliseconds(100),
                    MaxReconnectBackoff = ReconnectBackoffMax,
                    HttpHandler = new SocketsHttpHandler
                    {
                        ConnectTimeout = GrpcPeerTransport.PeerConnectTimeout,
                        EnableMultipleHttp2Connections = true,
                    },
                };
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
