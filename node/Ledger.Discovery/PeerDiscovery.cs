using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Threading.Channels;
using Makaretu.Dns;
using Microsoft.Extensions.Logging;

namespace Ledger.Discovery;

/// <summary>
/// Announces this member over mDNS (service <c>_ledger._tcp</c>, TXT <c>origin=</c>, <c>member=</c>,
/// <c>v=1</c>) and reports the other members of the same ledger that announce themselves, on the named
/// interfaces only. Discoveries are candidates, never trusted: see <see cref="DiscoveredPeer"/>.
/// Thread-safe; <see cref="Start"/> once, then <see cref="DisposeAsync"/> (which announces the goodbye).
/// </summary>
public sealed partial class PeerDiscovery : IAsyncDisposable
{
    private const int RecordsPerMessageMax = 64;
    private const string TxtVersion = "1";

    private readonly PeerDiscoveryOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Channel<DiscoveredPeer> _discovered;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, DiscoveredPeer> _peers = new(StringComparer.Ordinal);
    private readonly DomainName _serviceName;
    private readonly DomainName _instanceName;
    private readonly DomainName _hostName;
    private readonly CancellationTokenSource _stop = new();
    private MulticastService? _mdns;
    private AllowedInterfaces? _interfaces;
    private IReadOnlyList<IPAddress> _advertisedAddresses = [];
    private Task _announcing = Task.CompletedTask;
    private bool _started;

    /// <summary>Validates the options; nothing is sent before <see cref="Start"/>.</summary>
    public PeerDiscovery(PeerDiscoveryOptions options, ILogger<PeerDiscovery> logger, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(logger);
        options.Validate();
        _options = options;
        _logger = logger;
        _time = timeProvider ?? TimeProvider.System;
        _discovered = Channel.CreateBounded<DiscoveredPeer>(new BoundedChannelOptions(options.DiscoveredQueueMax)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = false,
            SingleWriter = false,
        });
        var label = ServiceNames.InstanceName(options.Origin, options.MemberName);
        _serviceName = new DomainName(PeerDiscoveryOptions.ServiceType + ".local");
        _instanceName = DomainName.Join(new DomainName(label), _serviceName);
        _hostName = new DomainName(label + ".local");
    }

    /// <summary>Discoveries of other members of this ledger: a new member, a member at a new location, or one seen again after an announce interval.</summary>
    public ChannelReader<DiscoveredPeer> Discovered => _discovered.Reader;

    /// <summary>This node's mDNS instance name (e.g. <c>member-a-1a2b3c4d._ledger._tcp.local</c>).</summary>
    public string InstanceName => _instanceName.ToString();

    /// <summary>The interfaces discovery runs on (empty before <see cref="Start"/> or when none of the named ones exists).</summary>
    public IReadOnlyList<string> ActiveInterfaceNames => _interfaces?.Names ?? [];

    /// <summary>The latest discovery per member, at most <see cref="PeerDiscoveryOptions.PeersRememberedMax"/>.</summary>
    public IReadOnlyList<DiscoveredPeer> Peers
    {
        get
        {
            lock (_gate)
            {
                return [.. _peers.Values.OrderBy(peer => peer.MemberName, StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>
    /// Opens the mDNS sockets on the allowed interfaces and starts announcing and browsing. When
    /// none of <see cref="PeerDiscoveryOptions.InterfaceNames"/> exists, logs a warning and stays idle.
    /// </summary>
    public void Start()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_stop.IsCancellationRequested, this);
            if (_started)
            {
                throw new InvalidOperationException("peer discovery was already started");
            }

            _started = true;
        }

        MulticastCompatibility.EnsureLoadable();
        var interfaces = AllowedInterfaces.Find(_options.InterfaceNames);
        if (interfaces.Names.Count == 0)
        {
            LogNoInterface(_logger, string.Join(", ", _options.InterfaceNames));
            return;
        }

        _interfaces = interfaces;
        _advertisedAddresses = _options.AdvertisedAddresses.Count > 0
            ? _options.AdvertisedAddresses
            : interfaces.AdvertisableAddresses(_options.UseIpv6, PeerDiscoveryOptions.AddressesPerPeerMax);
        // Makaretu offers the interfaces that are up, without loopback whenever another one is up; the
        // allowed ones are looked up again instead, so that an allowed loopback stays usable.
        var mdns = new MulticastService(_ => AllowedInterfaces.Find(_options.InterfaceNames).Interfaces)
        {
            UseIpv4 = true,
            UseIpv6 = _options.UseIpv6,
        };
        mdns.QueryReceived += OnQuery;
        mdns.AnswerReceived += OnAnswer;
        mdns.Start();
        _mdns = mdns;
        if (_logger.IsEnabled(LogLevel.Information))
        {
            var names = string.Join(", ", interfaces.Names);
            var addresses = string.Join(", ", _advertisedAddresses);
            LogStarted(_logger, InstanceName, names, addresses, _options.Port);
        }

        _announcing = Task.Run(() => AnnounceLoopAsync(mdns, _stop.Token));
    }

    /// <summary>Stops announcing, sends the goodbye (TTL 0) when advertising, closes the sockets and completes <see cref="Discovered"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            if (_stop.IsCancellationRequested)
            {
                return;
            }

            _stop.Cancel();
        }

        await _announcing.ConfigureAwait(false);
        var mdns = _mdns;
        if (mdns is not null)
        {
            if (_options.Advertise)
            {
                mdns.SendAnswer(Announcement(TimeSpan.Zero), checkDuplicate: false);
            }

            mdns.Stop();
            mdns.Dispose();
        }

        _discovered.Writer.TryComplete();
        _stop.Dispose();
    }

    private async Task AnnounceLoopAsync(MulticastService mdns, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.AnnounceInterval, _time);
        do
        {
            try
            {
                if (_options.Advertise)
                {
                    mdns.SendAnswer(Announcement(ttl: null), checkDuplicate: false);
                }

                if (_options.Browse)
                {
                    mdns.SendQuery(_serviceName, DnsClass.IN, DnsType.PTR);
                }
            }
            catch (Exception e) when (e is SocketException or InvalidOperationException or ObjectDisposedException)
            {
                LogSendFailed(_logger, e);
            }
        }
        while (await WaitAsync(timer, cancellationToken).ConfigureAwait(false));
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken cancellationToken)
    {
        try
        {
            return await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private Message Announcement(TimeSpan? ttl)
    {
        var message = new Message { QR = true };
        var records = new List<ResourceRecord>
        {
            new PTRRecord { Name = _serviceName, DomainName = _instanceName },
            new SRVRecord { Name = _instanceName, Port = (ushort)_options.Port, Target = _hostName },
            new TXTRecord
            {
                Name = _instanceName,
                Strings = { "origin=" + _options.Origin, "member=" + _options.MemberName, "v=" + TxtVersion },
            },
        };
        records.AddRange(_advertisedAddresses.Select(address => (ResourceRecord)AddressRecord.Create(_hostName, address)));
        foreach (var record in records)
        {
            if (ttl is { } value)
            {
                record.TTL = value;
            }

            message.Answers.Add(record);
        }

        return message;
    }

    private void OnQuery(object? sender, MessageEventArgs e)
    {
        if (!_options.Advertise || _stop.IsCancellationRequested || !IsAllowedSource(e.RemoteEndPoint))
        {
            return;
        }

        var asksForUs = e.Message.Questions.Take(RecordsPerMessageMax).Any(question =>
            (question.Name == _serviceName && question.Type is DnsType.PTR or DnsType.ANY)
            || (question.Name == _instanceName && question.Type is DnsType.SRV or DnsType.TXT or DnsType.ANY)
            || (question.Name == _hostName && question.Type is DnsType.A or DnsType.AAAA or DnsType.ANY));
        if (asksForUs)
        {
            _mdns?.SendAnswer(Announcement(ttl: null), checkDuplicate: true);
        }
    }

    private void OnAnswer(object? sender, MessageEventArgs e)
    {
        if (!_options.Browse || _stop.IsCancellationRequested)
        {
            return;
        }

        if (!IsAllowedSource(e.RemoteEndPoint))
        {
            LogOutsideSource(_logger, e.RemoteEndPoint);
            return;
        }

        var records = e.Message.Answers.Concat(e.Message.AdditionalRecords).Take(RecordsPerMessageMax).ToList();
        var instances = records.OfType<PTRRecord>().Where(ptr => ptr.Name == _serviceName && ptr.TTL > TimeSpan.Zero);
        foreach (var ptr in instances)
        {
            if (TryRead(ptr.DomainName, records, e.RemoteEndPoint, out var peer))
            {
                Report(peer);
            }
        }
    }

    private bool TryRead(DomainName instance, List<ResourceRecord> records, IPEndPoint source, out DiscoveredPeer peer)
    {
        peer = null!;
        var srv = records.OfType<SRVRecord>().FirstOrDefault(record => record.Name == instance);
        var txt = records.OfType<TXTRecord>().FirstOrDefault(record => record.Name == instance);
        if (srv is null || txt is null || srv.Port == 0)
        {
            return false;
        }

        var properties = TxtProperties(txt.Strings);
        if (!properties.TryGetValue("v", out var version) || version != TxtVersion
            || !properties.TryGetValue("origin", out var origin)
            || !properties.TryGetValue("member", out var member)
            || member.Length is 0 or > PeerDiscoveryOptions.NameLengthMax)
        {
            return false;
        }

        if (origin != _options.Origin)
        {
            LogOtherOrigin(_logger, instance, origin);
            return false;
        }

        var expected = DomainName.Join(new DomainName(ServiceNames.InstanceName(origin, member)), _serviceName);
        if (instance != expected || member == _options.MemberName)
        {
            return false;
        }

        var addresses = records.OfType<AddressRecord>()
            .Where(record => record.Name == srv.Target && record.TTL > TimeSpan.Zero)
            .Select(record => record.Address)
            .Distinct()
            .Take(PeerDiscoveryOptions.AddressesPerPeerMax)
            .ToArray();
        peer = new DiscoveredPeer(origin, member, addresses.Length > 0 ? addresses : [source.Address], srv.Port, _time.GetUtcNow());
        return true;
    }

    private static Dictionary<string, string> TxtProperties(IEnumerable<string> strings)
    {
        var properties = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var text in strings.Take(RecordsPerMessageMax))
        {
            var equals = text.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0)
            {
                properties.TryAdd(text[..equals], text[(equals + 1)..]);
            }
        }

        return properties;
    }

    private void Report(DiscoveredPeer peer)
    {
        lock (_gate)
        {
            if (_peers.TryGetValue(peer.MemberName, out var known)
                && known.SameLocationAs(peer)
                && peer.SeenAt - known.SeenAt < _options.AnnounceInterval)
            {
                return;
            }

            _peers[peer.MemberName] = peer;
            if (_peers.Count > _options.PeersRememberedMax)
            {
                var oldest = _peers.Values.MinBy(candidate => candidate.SeenAt)!;
                _peers.Remove(oldest.MemberName);
            }

            _discovered.Writer.TryWrite(peer);
        }

        if (_logger.IsEnabled(LogLevel.Information))
        {
            var addresses = string.Join(", ", peer.Addresses.Select(address => address.ToString()));
            LogDiscovered(_logger, peer.MemberName, addresses, peer.Port);
        }
    }

    private bool IsAllowedSource(IPEndPoint source) => _interfaces?.IsOnLink(source.Address) ?? false;

    [LoggerMessage(EventId = 7101, Level = LogLevel.Warning, Message = "peer discovery stays idle: none of the interfaces [{Names}] exists or can send multicast")]
    private static partial void LogNoInterface(ILogger logger, string names);

    [LoggerMessage(EventId = 7102, Level = LogLevel.Information, Message = "peer discovery announces {Instance} on [{Interfaces}] at [{Addresses}] port {Port}")]
    private static partial void LogStarted(ILogger logger, string instance, string interfaces, string addresses, int port);

    [LoggerMessage(EventId = 7103, Level = LogLevel.Information, Message = "discovered member {Member} at [{Addresses}] port {Port} (unverified)")]
    private static partial void LogDiscovered(ILogger logger, string member, string addresses, int port);

    [LoggerMessage(EventId = 7104, Level = LogLevel.Debug, Message = "ignored {Instance}: it announces another ledger, {Origin}")]
    private static partial void LogOtherOrigin(ILogger logger, DomainName instance, string origin);

    [LoggerMessage(EventId = 7105, Level = LogLevel.Debug, Message = "ignored an mDNS answer from {Source}, outside the allowed interfaces")]
    private static partial void LogOutsideSource(ILogger logger, IPEndPoint source);

    [LoggerMessage(EventId = 7106, Level = LogLevel.Warning, Message = "peer discovery could not send")]
    private static partial void LogSendFailed(ILogger logger, Exception exception);
}
