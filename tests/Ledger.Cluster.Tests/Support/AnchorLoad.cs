using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using Grpc.Core;
using Ledger.Sdk;
using Ledger.Sdk.Client;

namespace Ledger.Cluster.Tests.Support;

/// <summary>A digest a node acknowledged: which issuer anchored it, at which leaf, when the request started and ended.</summary>
internal sealed record Acknowledged(byte[] Digest, string Issuer, ulong LeafIndex, long StartedTimestamp, long AckedTimestamp);

/// <summary>Concurrent anchor loops of fresh random digests; records every acknowledged digest and every error.</summary>
internal sealed class AnchorLoad
{
    private readonly ConcurrentQueue<Acknowledged> _acknowledged = new();
    private readonly ConcurrentQueue<string> _errors = new();
    private int _requests;

    public IReadOnlyList<Acknowledged> Acknowledged => [.. _acknowledged];

    public IReadOnlyList<string> Errors => [.. _errors];

    public int Requests => Volatile.Read(ref _requests);

    /// <summary>
    /// Runs <paramref name="loops"/> loops, each sending at most <paramref name="requestsPerLoopMax"/> requests
    /// of <paramref name="digestsPerRequest"/> fresh digests through <paramref name="client"/>, until done or
    /// <paramref name="stop"/> is cancelled (a request cut short by it is neither an acknowledgement nor an error).
    /// </summary>
    public Task RunAsync(LedgerClient client, SignerKey issuer, int loops, int digestsPerRequest, int requestsPerLoopMax, CancellationToken stop) =>
        Task.WhenAll(Enumerable.Range(0, loops).Select(_ => Task.Run(() => LoopAsync(client, issuer, digestsPerRequest, requestsPerLoopMax, stop), CancellationToken.None)));

    /// <summary>Digests acknowledged by requests that started after <paramref name="timestamp"/> (a <see cref="Stopwatch"/> timestamp).</summary>
    public int AcknowledgedStartedAfter(long timestamp) => _acknowledged.Count(ack => ack.StartedTimestamp > timestamp);

    private async Task LoopAsync(LedgerClient client, SignerKey issuer, int digestsPerRequest, int requestsMax, CancellationToken stop)
    {
        for (var request = 0; request < requestsMax && !stop.IsCancellationRequested; request++)
        {
            var digests = Enumerable.Range(0, digestsPerRequest).Select(_ => RandomNumberGenerator.GetBytes(32)).ToArray();
            var started = Stopwatch.GetTimestamp();
            Interlocked.Increment(ref _requests);
            try
            {
                var result = await client.AnchorAsync(issuer, digests, includeReceipts: false, stop);
                var acked = Stopwatch.GetTimestamp();
                if (result.LeafIndices.Count != digests.Length)
                {
                    _errors.Enqueue($"{digests.Length} digests sent, {result.LeafIndices.Count} leaf indices returned");
                    continue;
                }

                for (var i = 0; i < digests.Length; i++)
                {
                    _acknowledged.Enqueue(new Acknowledged(digests[i], issuer.Name, result.LeafIndices[i], started, acked));
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (RpcException exception) when (exception.StatusCode == StatusCode.Cancelled && stop.IsCancellationRequested)
            {
                return;
            }
            catch (RpcException exception)
            {
                _errors.Enqueue($"{exception.StatusCode}: {exception.Status.Detail}");
                await Task.Delay(100, CancellationToken.None);
            }
        }
    }
}
