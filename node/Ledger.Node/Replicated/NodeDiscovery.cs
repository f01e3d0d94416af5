using System.Net;
using Ledger.Discovery;
using Ledger.Replication;

namespace Ledger.Node.Replicated;

/// <summary>
/// Finds the members the consortium file gives no address: announces this member over mDNS on the
/// named interfaces, and for each member announced proves with the peer handshake that the address
/// holds that member's pinned key before using it. Verified addresses are kept in the peer book
/// (<c>DataDir/peers.db</c>) and tried first after a restart.
/// </summary>
internal sealed partial class NodeDiscovery : IPeerAddressVerifier, IAsyncDisposable
{
    private readonly PeerContext _peers;
    private readonly HandshakeAddressVerifier _verifier;
    private readonly PeerDiscovery _discovery;
    private readonly PeerBook _book;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    public NodeDiscovery(PeerContext peers, Uri listen, IReadOnlyList<string> interfaces, string peerBookPath, ILogger<PeerDiscovery> logger)
    {
        _peers = peers;
        _verifier = new HandshakeAddressVerifier(peers, listen.Scheme);
        _book = new PeerBook(peerBookPath);
        _logger = logger;
        _discovery = new PeerDiscovery(
            new PeerDiscoveryOptions
            {
                Origin = peers.Consortium.Origin,
                MemberName = peers.MemberKey.Name,
                Port = listen.Port,
                InterfaceNames = interfaces,
                AnnounceInterval = TimeSpan.FromSeconds(5),
            },
            logger);
        foreach (var entry in _book.List())
        {
            if (peers.Consortium.FindMember(entry.MemberName) is { Address: null })
            {
                peers.SetDiscoveredAddress(entry.MemberName, _verifier.AddressOf(entry.Address));
            }
        }
    }

    public void Start()
    {
        _discovery.Start();
        _loop = Task.Run(() => VerifyDiscoveredAsync(_stop.Token));
    }

    public ValueTask<bool> IsMemberAtAsync(string memberName, IPEndPoint endpoint, CancellationToken cancellationToken) =>
        _verifier.IsMemberAtAsync(memberName, endpoint, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _discovery.DisposeAsync();
        if (_loop is not null)
        {
            await _loop.ContinueWith(_ => { }, TaskScheduler.Default);
        }

        _book.Dispose();
        _stop.Dispose();
    }

    private async Task VerifyDiscoveredAsync(CancellationToken cancellationToken)
    {
        await foreach (var peer in _discovery.Discovered.ReadAllAsync(cancellationToken))
        {
            // Only members the file names without an address; a pinned address is never replaced.
            if (_peers.Consortium.FindMember(peer.MemberName) is not { Address: null })
            {
                continue;
            }

            var endpoint = await DiscoveredPeerVerification.VerifyAsync(
                peer, name => _peers.Consortium.FindMember(name) is not null, this, _book, TimeProvider.System, cancellationToken);
            if (endpoint is null)
            {
                if (_logger.IsEnabled(LogLevel.Warning))
                {
                    LogNotProved(_logger, peer.MemberName, string.Join(", ", peer.Addresses.Select(address => address.ToString())), peer.Port);
                }

                continue;
            }

            var address = _verifier.AddressOf(endpoint);
            if (_peers.AddressOf(peer.MemberName) != address)
            {
                LogProved(_logger, peer.MemberName, address);
            }

            _peers.SetDiscoveredAddress(peer.MemberName, address);
        }
    }

    [LoggerMessage(EventId = 7107, Level = LogLevel.Information, Message = "member {Member} proved its key at {Address}: called there from now on, kept in the peer book")]
    private static partial void LogProved(ILogger logger, string member, string address);

    [LoggerMessage(EventId = 7108, Level = LogLevel.Warning, Message = "an announcement of member {Member} at [{Addresses}] port {Port} is not used: no answer there proved the member's key (tried again when it announces again)")]
    private static partial void LogNotProved(ILogger logger, string member, string addresses, int port);
}
