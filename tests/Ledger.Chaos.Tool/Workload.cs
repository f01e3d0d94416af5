using Grpc.Core;
using Ledger.Sdk;
using Ledger.Sdk.Client;

namespace Ledger.Chaos.Tool;

/// <summary>
/// Several issuers anchoring concurrently through the SDK (failover across every member) for a fixed
/// time, each request recorded in the history with its outcome; meanwhile every member's checkpoint
/// is polled and every distinct one recorded. Requests still in flight at the end run to their outcome.
/// </summary>
internal static class Workload
{
    /// <summary>Digests per request: 1 to this many, drawn from the seeded generator.</summary>
    public const int DigestsPerRequestMax = 4;

    /// <summary>
    /// Requests one loop sends at most in a run of <paramref name="seconds"/>: the most its pause lets
    /// it send in that time, so the bound holds the loop without cutting the load short (a fixed
    /// 100,000 ended the load of a two-hour campaign 20 minutes before its faults).
    /// </summary>
    public static int RequestsPerLoopMax(int seconds) => (int)Math.Min(int.MaxValue, 1_000L + (seconds * 1_000L / (long)RequestPause.TotalMilliseconds));

    /// <summary>Distinct checkpoints recorded at most in a run of <paramref name="seconds"/> on <paramref name="members"/> members: one per poll.</summary>
    public static int CheckpointsMax(int seconds, int members) =>
        (int)Math.Min(int.MaxValue, 1_000L + (seconds * 1_000L / (long)CheckpointPollInterval.TotalMilliseconds * members));

    /// <summary>Pause between two requests of one loop: the load stays modest beside the members on a small machine.</summary>
    private static readonly TimeSpan RequestPause = TimeSpan.FromMilliseconds(25);

    private static readonly TimeSpan CheckpointPollInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Each anchor call may take 3 s and is tried 4 times across the members: a request whose member
    /// is paused or cut off fails over, and one whose outcome stays unknown ends within seconds.
    /// </summary>
    private static readonly LedgerClientOptions AnchorOptions = new(TimeSpan.FromSeconds(3), 4, TimeSpan.FromMilliseconds(100));

    private static readonly LedgerClientOptions ProbeOptions = new(TimeSpan.FromSeconds(2), 1, TimeSpan.FromMilliseconds(50));

    public static async Task<int> RunAsync(Arguments arguments)
    {
        var addresses = LedgerClient.ParseAddresses(arguments.Required("--nodes"));
        var issuers = arguments.All("--issuer-key").Select(SignerKey.Load).ToArray();
        if (issuers.Length == 0)
        {
            throw new ArgumentException("--issuer-key is required (once per issuer)");
        }

        var seconds = arguments.Int("--seconds", 60);
        var seed = arguments.Int("--seed", 1);
        var loopsPerIssuer = arguments.Int("--loops-per-issuer", 2);
        using var history = new JsonLinesWriter(arguments.Required("--history"));
        using var checkpoints = new JsonLinesWriter(arguments.Required("--checkpoints"));
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        using var client = new LedgerClient(addresses, AnchorOptions);
        var counts = new OutcomeCounts();

        var collector = Task.Run(() => CollectCheckpointsAsync(addresses, checkpoints, CheckpointsMax(seconds, addresses.Count), stop.Token), CancellationToken.None);
        var loops = issuers
            .SelectMany((issuer, i) => Enumerable.Range(0, loopsPerIssuer).Select(loop => (issuer, loopSeed: LoopSeed(seed, i, loop))))
            .Select(pair => Task.Run(() => LoopAsync(client, pair.issuer, new Random(pair.loopSeed), RequestsPerLoopMax(seconds), history, counts, stop.Token), CancellationToken.None))
            .ToArray();
        await Task.WhenAll(loops);
        await collector;
        Console.WriteLine($"workload: {counts}");
        return 0;
    }

    private static async Task LoopAsync(LedgerClient client, SignerKey issuer, Random random, int requestsMax, JsonLinesWriter history, OutcomeCounts counts, CancellationToken stop)
    {
        for (var request = 0; request < requestsMax && !stop.IsCancellationRequested; request++)
        {
            var digests = new byte[random.Next(1, DigestsPerRequestMax + 1)][];
            for (var i = 0; i < digests.Length; i++)
            {
                digests[i] = new byte[32];
                random.NextBytes(digests[i]);
            }

            var record = await AnchorOnceAsync(client, issuer, digests);
            counts.Add(record.Outcome);
            history.Write(record);
            try
            {
                await Task.Delay(RequestPause, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>One request, run to its outcome (never cancelled by the end of the run: it has a deadline of its own).</summary>
    private static async Task<HistoryRecord> AnchorOnceAsync(LedgerClient client, SignerKey issuer, byte[][] digests)
    {
        var hex = digests.Select(Convert.ToHexStringLower).ToArray();
        var startMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        try
        {
            var result = await client.AnchorAsync(issuer, digests, includeReceipts: false, CancellationToken.None);
            var outcome = result.LeafIndices.Count == digests.Length ? Outcomes.Acknowledged : Outcomes.Unknown;
            var detail = outcome == Outcomes.Acknowledged ? "" : $"{result.LeafIndices.Count} leaf indices for {digests.Length} digests";
            return new HistoryRecord(issuer.Name, hex, outcome, result.LeafIndices, startMs, NowMs(), detail);
        }
        catch (RpcException exception)
        {
            var outcome = IsUnknown(exception.StatusCode) ? Outcomes.Unknown : Outcomes.Refused;
            return new HistoryRecord(issuer.Name, hex, outcome, [], startMs, NowMs(), $"{exception.StatusCode}: {exception.Status.Detail}");
        }
        catch (Exception exception) when (exception is HttpRequestException or IOException or InvalidOperationException or OperationCanceledException)
        {
            return new HistoryRecord(issuer.Name, hex, Outcomes.Unknown, [], startMs, NowMs(), exception.GetType().Name + ": " + exception.Message);
        }
    }

    /// <summary>Statuses after which the request may or may not have been committed.</summary>
    internal static bool IsUnknown(StatusCode code) =>
        code is StatusCode.DeadlineExceeded or StatusCode.Unavailable or StatusCode.Cancelled or StatusCode.Unknown or StatusCode.Internal or StatusCode.Aborted;

    private static async Task CollectCheckpointsAsync(IReadOnlyList<Uri> addresses, JsonLinesWriter output, int checkpointsMax, CancellationToken stop)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var probes = addresses.Select(address => (Name: address.ToString().TrimEnd('/'), Client: new LedgerClient([address], ProbeOptions))).ToArray();
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var polled = await Task.WhenAll(probes.Select(async probe => (probe.Name, Text: await TryCheckpointAsync(probe.Client, stop))));
                foreach (var (name, text) in polled)
                {
                    if (text is not null && seen.Count < checkpointsMax && seen.Add(text))
                    {
                        output.Write(new CheckpointRecord(name, NowMs(), text));
                    }
                }

                try
                {
                    await Task.Delay(CheckpointPollInterval, stop);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
        finally
        {
            foreach (var probe in probes)
            {
                probe.Client.Dispose();
            }
        }
    }

    private static async Task<string?> TryCheckpointAsync(LedgerClient client, CancellationToken stop)
    {
        try
        {
            var text = await client.GetCheckpointAsync(stop);
            return text.Length > 0 ? text : null;
        }
        catch (Exception exception) when (exception is RpcException or HttpRequestException or OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>A loop's seed from the run's (HashCode is randomized per process, so it would not replay).</summary>
    internal static int LoopSeed(int seed, int issuer, int loop) => unchecked((seed * 1_000_003) + (issuer * 1_009) + loop);

    private static long NowMs() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    private sealed class OutcomeCounts
    {
        private int _acknowledged;
        private int _refused;
        private int _unknown;

        public void Add(string outcome)
        {
            switch (outcome)
            {
                case Outcomes.Acknowledged:
                    Interlocked.Increment(ref _acknowledged);
                    break;
                case Outcomes.Refused:
                    Interlocked.Increment(ref _refused);
                    break;
                default:
                    Interlocked.Increment(ref _unknown);
                    break;
            }
        }

        public override string ToString() => $"acknowledged={_acknowledged} refused={_refused} unknown={_unknown}";
    }
}
