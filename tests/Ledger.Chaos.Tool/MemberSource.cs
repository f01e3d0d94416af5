using Ledger.Sdk.Client;

namespace Ledger.Chaos.Tool;

/// <summary>What the checker reads from one member; the tests give it fakes with known faults.</summary>
internal interface IMemberSource
{
    /// <summary>Name used in problems and in the summary.</summary>
    string Name { get; }

    /// <summary>The member's tree size and its latest signed checkpoint.</summary>
    Task<(ulong TreeSize, string Checkpoint)> HeadAsync(CancellationToken cancellationToken);

    /// <summary>Leaf bytes for [start, start + count) (fewer at the end of the log).</summary>
    Task<IReadOnlyList<byte[]>> EntriesAsync(ulong start, ulong count, CancellationToken cancellationToken);

    /// <summary>Receipt per digest anchored by <paramref name="issuer"/>, or null when the member has none.</summary>
    Task<IReadOnlyList<string?>> ReceiptsAsync(IReadOnlyList<byte[]> digests, string issuer, CancellationToken cancellationToken);

    /// <summary>A consistency proof between two sizes of the member's tree.</summary>
    Task<IReadOnlyList<byte[]>> ConsistencyProofAsync(ulong oldSize, ulong newSize, CancellationToken cancellationToken);
}

/// <summary>A member reached over gRPC through the SDK (one address, no failover: the answers are this member's).</summary>
internal sealed class GrpcMemberSource : IMemberSource, IDisposable
{
    private static readonly LedgerClientOptions Options = new(TimeSpan.FromSeconds(10), 3, TimeSpan.FromMilliseconds(200));

    private readonly LedgerClient _client;

    public GrpcMemberSource(Uri address)
    {
        Name = address.ToString().TrimEnd('/');
        _client = new LedgerClient([address], Options);
    }

    public string Name { get; }

    public async Task<(ulong TreeSize, string Checkpoint)> HeadAsync(CancellationToken cancellationToken)
    {
        var status = await _client.GetStatusAsync(cancellationToken);
        return (status.TreeSize, status.Checkpoint);
    }

    public Task<IReadOnlyList<byte[]>> EntriesAsync(ulong start, ulong count, CancellationToken cancellationToken) =>
        _client.GetEntriesAsync(start, count, cancellationToken);

    public Task<IReadOnlyList<string?>> ReceiptsAsync(IReadOnlyList<byte[]> digests, string issuer, CancellationToken cancellationToken) =>
        _client.GetReceiptsAsync(digests, issuer, cancellationToken);

    public Task<IReadOnlyList<byte[]>> ConsistencyProofAsync(ulong oldSize, ulong newSize, CancellationToken cancellationToken) =>
        _client.GetConsistencyProofAsync(oldSize, newSize, cancellationToken);

    public void Dispose() => _client.Dispose();
}
