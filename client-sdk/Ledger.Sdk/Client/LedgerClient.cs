using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Ledger.Sdk.Protos.V1;

namespace Ledger.Sdk.Client;

/// <summary>Settings of a <see cref="LedgerClient"/>.</summary>
/// <param name="CallTimeout">Deadline of each call.</param>
/// <param name="AttemptsMax">Tries per operation, across the node addresses (failover).</param>
/// <param name="RetryDelay">Pause before the second try; doubled after each further try.</param>
/// <param name="LinearizableReads">
/// Receipt look-ups see every anchor acknowledged before them, on whichever member answers (the
/// member first catches up with the leader's commit index; one extra round trip). Off: a member
/// answers from what it has applied, which may trail the leader by a moment.
/// </param>
public sealed record LedgerClientOptions(TimeSpan CallTimeout, int AttemptsMax, TimeSpan RetryDelay, bool LinearizableReads = false)
{
    /// <summary>30 s per call, 5 tries, 100 ms first pause.</summary>
    public static LedgerClientOptions Default { get; } = new(TimeSpan.FromSeconds(30), 5, TimeSpan.FromMilliseconds(100));
}

/// <summary>What a node answered to an anchor: a leaf per digest, in request order.</summary>
/// <param name="LeafIndices">Leaf index of each digest.</param>
/// <param name="Existed">Per digest, true when the issuer had anchored it before.</param>
/// <param name="TreeSize">Tree size after the batch.</param>
/// <param name="Receipts">Receipt text (SPEC §6) per digest, when requested; else empty.</param>
public sealed record AnchorResult(IReadOnlyList<ulong> LeafIndices, IReadOnlyList<bool> Existed, ulong TreeSize, IReadOnlyList<string> Receipts);

/// <summary>
/// Client of the <c>ledger.v1.Ledger</c> API. Every call has a deadline; failed calls that are safe
/// to repeat are retried against the next address. A retried anchor is signed again with a fresh
/// nonce: the node maps a digest its issuer already anchored to the existing leaf, so a retry
/// never creates a duplicate. Thread-safe; dispose to close the connections.
/// </summary>
public sealed class LedgerClient : IDisposable
{
    /// <summary>Largest response accepted, in bytes (a 10,000-digest anchor with receipts).</summary>
    public const int ResponseBytesMax = 64 * 1024 * 1024;

    /// <summary>
    /// Response header of an anchor that a follower forwarded: the leader's address as the consortium
    /// knows it. A client that was given that address too sends its next calls there.
    /// </summary>
    public const string LeaderAddressHeader = "ledger-leader-address";

    private readonly Uri[] _addresses;
    private readonly GrpcChannel[] _channels;
    private readonly Protos.V1.Ledger.LedgerClient[] _clients;
    private readonly LedgerClientOptions _options;
    private int _current;
    private string? _origin;

    /// <summary>Connects (lazily) to one or more node addresses.</summary>
    public LedgerClient(IReadOnlyList<Uri> addresses, LedgerClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        if (addresses.Count == 0)
        {
            throw new ArgumentException("give at least one node address", nameof(addresses));
        }

        _options = options ?? LedgerClientOptions.Default;
        _addresses = [.. addresses];
        _channels = addresses.Select(Open).ToArray();
        _clients = _channels.Select(channel => new Protos.V1.Ledger.LedgerClient(channel)).ToArray();
    }

    /// <summary>Parses a comma-separated list of addresses (SPEC §7 <c>--node</c>).</summary>
    public static IReadOnlyList<Uri> ParseAddresses(string nodes)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        var addresses = new List<Uri>();
        foreach (var part in nodes.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!Uri.TryCreate(part, UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
            {
                throw new FormatException($"'{part}' is not a node address like https://host:7400");
            }

            addresses.Add(uri);
        }

        return addresses.Count > 0 ? addresses : throw new FormatException("no node address given");
    }

    /// <summary>The node's status (origin, tree size, members, limits).</summary>
    public Task<GetStatusResponse> GetStatusAsync(CancellationToken cancellationToken = default) =>
        CallAsync((client, deadline) => client.GetStatusAsync(new GetStatusRequest(), deadline: deadline, cancellationToken: cancellationToken).ResponseAsync, cancellationToken);

    /// <summary>
    /// Anchors <paramref name="digests"/> (32 bytes each) as the issuer of <paramref name="issuerKey"/>;
    /// returns once they are durable and applied, with receipts when <paramref name="includeReceipts"/>.
    /// </summary>
    public async Task<AnchorResult> AnchorAsync(SignerKey issuerKey, IReadOnlyList<byte[]> digests, bool includeReceipts, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(issuerKey);
        ArgumentNullException.ThrowIfNull(digests);
        var origin = _origin ??= (await GetStatusAsync(cancellationToken)).Origin;
        var response = await CallAsync(
            async (client, deadline) =>
            {
                using var call = client.AnchorAsync(BuildAnchorRequest(origin, issuerKey, digests, includeReceipts), deadline: deadline, cancellationToken: cancellationToken);
                var answer = await call.ResponseAsync;
                FollowLeader(client, (await call.ResponseHeadersAsync).GetValue(LeaderAddressHeader));
                return answer;
            },
            cancellationToken);
        return new AnchorResult(response.LeafIndices, response.Existed, response.TreeSize, response.Receipts);
    }

    /// <summary>The address this client sends its next call to.</summary>
    public Uri CurrentAddress => _addresses[Volatile.Read(ref _current)];

    /// <summary>
    /// After a follower forwarded an anchor: when the leader's address is one of this client's, the
    /// next calls go there (saving the members a forwarding hop per anchor; receipts then come from the
    /// member that applied the anchor before answering). Addresses it was not given are ignored.
    /// </summary>
    private void FollowLeader(Protos.V1.Ledger.LedgerClient answered, string? leaderAddress)
    {
        if (leaderAddress is null || !Uri.TryCreate(leaderAddress, UriKind.Absolute, out var leader))
        {
            return;
        }

        var from = Array.IndexOf(_clients, answered);
        var to = Array.IndexOf(_addresses, leader);
        if (from >= 0 && to >= 0 && to != from)
        {
            Interlocked.CompareExchange(ref _current, to, from);
        }
    }

    /// <summary>Builds and signs an anchor request with a fresh nonce (exposed for tools and tests).</summary>
    public static AnchorRequest BuildAnchorRequest(string origin, SignerKey issuerKey, IReadOnlyList<byte[]> digests, bool includeReceipts)
    {
        ArgumentNullException.ThrowIfNull(issuerKey);
        ArgumentNullException.ThrowIfNull(digests);
        var nonce = RandomNumberGenerator.GetBytes(AnchorMessage.NonceLengthMin);
        var issuedAtMs = (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var memories = digests.Select(digest => (ReadOnlyMemory<byte>)digest).ToArray();
        var signature = issuerKey.Sign(AnchorMessage.Build(origin, issuerKey.Name, issuedAtMs, nonce, memories));
        var request = new AnchorRequest
        {
            Issuer = issuerKey.Name,
            IssuedAtMs = issuedAtMs,
            Nonce = ByteString.CopyFrom(nonce),
            Signature = ByteString.CopyFrom(signature),
            IncludeReceipts = includeReceipts,
        };
        request.Digests.AddRange(digests.Select(digest => ByteString.CopyFrom(digest)));
        return request;
    }

    /// <summary>The receipt text of an anchored digest, or null when it is not anchored (by <paramref name="issuer"/>, if given).</summary>
    public async Task<string?> GetReceiptAsync(byte[] digest, string? issuer = null, CancellationToken cancellationToken = default)
    {
        var request = new GetReceiptRequest { Digest = ByteString.CopyFrom(digest), Issuer = issuer ?? "", Linearizable = _options.LinearizableReads };
        try
        {
            var response = await CallAsync(
                (client, deadline) => client.GetReceiptAsync(request, deadline: deadline, cancellationToken: cancellationToken).ResponseAsync,
                cancellationToken);
            return response.Receipt;
        }
        catch (RpcException exception) when (exception.StatusCode == StatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>
    /// Receipts of many digests in calls of up to 1,000, in order; null where a digest is not anchored
    /// (by <paramref name="issuer"/>, if given).
    /// </summary>
    public async Task<IReadOnlyList<string?>> GetReceiptsAsync(IReadOnlyList<byte[]> digests, string? issuer = null, CancellationToken cancellationToken = default)
    {
        const int perCall = 1_000;
        var receipts = new List<string?>(digests.Count);
        for (var start = 0; start < digests.Count; start += perCall)
        {
            var request = new GetReceiptsRequest { Issuer = issuer ?? "", Linearizable = _options.LinearizableReads };
            request.Digests.AddRange(digests.Skip(start).Take(perCall).Select(digest => ByteString.CopyFrom(digest)));
            var response = await CallAsync(
                (client, deadline) => client.GetReceiptsAsync(request, deadline: deadline, cancellationToken: cancellationToken).ResponseAsync,
                cancellationToken);
            receipts.AddRange(response.Results.Select(result => result.Found ? result.Receipt : null));
        }

        return receipts;
    }

    /// <summary>The node's latest signed checkpoint text.</summary>
    public async Task<string> GetCheckpointAsync(CancellationToken cancellationToken = default)
    {
        var response = await CallAsync(
            (client, deadline) => client.GetCheckpointAsync(new GetCheckpointRequest(), deadline: deadline, cancellationToken: cancellationToken).ResponseAsync,
            cancellationToken);
        return response.Checkpoint;
    }

    /// <summary>A consistency proof between two tree sizes.</summary>
    public async Task<IReadOnlyList<byte[]>> GetConsistencyProofAsync(ulong oldSize, ulong newSize, CancellationToken cancellationToken = default)
    {
        var request = new GetConsistencyProofRequest { OldSize = oldSize, NewSize = newSize };
        var response = await CallAsync(
            (client, deadline) => client.GetConsistencyProofAsync(request, deadline: deadline, cancellationToken: cancellationToken).ResponseAsync,
            cancellationToken);
        return response.Proof.Select(hash => hash.ToByteArray()).ToArray();
    }

    /// <summary>
    /// Fetches the node's latest checkpoint and offers it to <paramref name="trustedState"/>, which
    /// accepts it only if it verifies and is consistent with the checkpoint it already trusts
    /// (the consistency proof comes from this node). A <see cref="TrustDecision.Rejected"/> result
    /// means the node showed a history that contradicts what this client saw before.
    /// </summary>
    public async Task<TrustUpdate> RefreshTrustedCheckpointAsync(TrustedStateStore trustedState, CheckpointVerifier verifier, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(trustedState);
        var checkpoint = await GetCheckpointAsync(cancellationToken);
        return await trustedState.OfferAsync(checkpoint, verifier, GetConsistencyProofAsync, cancellationToken);
    }

    /// <summary>Leaf bytes for indices [start, start + count).</summary>
    public async Task<IReadOnlyList<byte[]>> GetEntriesAsync(ulong start, ulong count, CancellationToken cancellationToken = default)
    {
        var request = new GetEntriesRequest { Start = start, Count = count };
        var response = await CallAsync(
            (client, deadline) => client.GetEntriesAsync(request, deadline: deadline, cancellationToken: cancellationToken).ResponseAsync,
            cancellationToken);
        return response.Leaves.Select(leaf => leaf.ToByteArray()).ToArray();
    }

    /// <summary>The latest checkpoint text, then each new one, until cancelled (no deadline: a stream).</summary>
    public async IAsyncEnumerable<string> WatchCheckpointsAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var call = _clients[Volatile.Read(ref _current)].WatchCheckpoints(new WatchCheckpointsRequest(), cancellationToken: cancellationToken);
        await foreach (var checkpoint in call.ResponseStream.ReadAllAsync(cancellationToken))
        {
            yield return checkpoint.Checkpoint;
        }
    }

    /// <summary>Closes the connections.</summary>
    public void Dispose()
    {
        foreach (var channel in _channels)
        {
            channel.Dispose();
        }
    }

    private static GrpcChannel Open(Uri address) => GrpcChannel.ForAddress(address, ReconnectBackoff.Apply(new GrpcChannelOptions
    {
        MaxReceiveMessageSize = ResponseBytesMax,
        HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true, PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5) },
    }));

    private async Task<T> CallAsync<T>(Func<Protos.V1.Ledger.LedgerClient, DateTime, Task<T>> call, CancellationToken cancellationToken)
    {
        var delay = _options.RetryDelay;
        for (var attempt = 1; ; attempt++)
        {
            var index = Volatile.Read(ref _current);
            try
            {
                return await call(_clients[index], DateTime.UtcNow + _options.CallTimeout);
            }
            catch (RpcException exception) when (IsRetryable(exception))
            {
                // The next call starts at the next address, also when this one gives up: a client
                // that makes one try per call must not keep knocking on a member that is down.
                Interlocked.CompareExchange(ref _current, (index + 1) % _clients.Length, index);
                if (attempt >= _options.AttemptsMax || cancellationToken.IsCancellationRequested)
                {
                    throw;
                }

                await Task.Delay(delay, cancellationToken);
                delay *= 2;
            }
        }
    }

    private static bool IsRetryable(RpcException exception) =>
        exception.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.DataLoss
        || (exception.StatusCode == StatusCode.ResourceExhausted && exception.Status.Detail.Contains("queue is full", StringComparison.Ordinal));
}
