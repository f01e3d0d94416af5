using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Grpc.Core;
using Ledger.Sdk;
using Ledger.Sdk.Client;

namespace Ledger.Cli.Commands;

/// <summary>
/// <c>ledger bench --node URL[,URL...] --issuer-key FILE [--clients N] [--batch B] [--seconds S] [--log FILE]</c>:
/// N concurrent clients, each anchoring B fresh random digests per request, for S seconds. The
/// last line is <c>digests_per_s=&lt;n&gt; p50_ms=&lt;x&gt; p99_ms=&lt;y&gt; max_ms=&lt;z&gt; errors=&lt;k&gt;</c>.
/// <c>--log</c> appends each acknowledged digest (hex) as soon as its request succeeds.
/// <c>--receipts</c> measures receipt serving instead: the clients fetch receipts of digests
/// sampled from the log (naming the leaf's issuer, as a verifier holding the credential would), and the last line starts with <c>receipts_per_s=</c>.
/// Exit 0; 1 if any request failed.
/// </summary>
internal static class BenchCommand
{
    private const int ClientsMax = 1_024;
    private const int BatchMax = 10_000;
    private const int SecondsMax = 3_600;
    private const int LatencySamplesMax = 10_000_000;

    public static Command Create()
    {
        var node = new Option<string>("--node") { Description = "Node address(es), comma-separated", Required = true };
        var issuerKey = new Option<string>("--issuer-key") { Description = "The issuer's signer key file", Required = true };
        var clients = new Option<int>("--clients") { Description = "Concurrent clients", DefaultValueFactory = _ => 16 };
        var batch = new Option<int>("--batch") { Description = "Digests per request", DefaultValueFactory = _ => 100 };
        var seconds = new Option<int>("--seconds") { Description = "Duration", DefaultValueFactory = _ => 10 };
        var log = new Option<string?>("--log") { Description = "Append every acknowledged digest (hex, one per line) to this file" };
        var receipts = new Option<bool>("--receipts") { Description = "Instead of anchoring, fetch receipts of digests already in the log (sampled with GetEntries); --batch 1 asks one at a time, more asks that many per GetReceipts call" };
        var command = new Command("bench", "Load a node with concurrent anchor requests and report throughput and latency.") { node, issuerKey, clients, batch, seconds, log, receipts };
        command.SetAction((parseResult, cancellationToken) => RunAsync(
            new BenchSettings(
                parseResult.GetValue(node)!,
                parseResult.GetValue(issuerKey)!,
                parseResult.GetValue(clients),
                parseResult.GetValue(batch),
                parseResult.GetValue(seconds),
                parseResult.GetValue(log),
                parseResult.GetValue(receipts)),
            cancellationToken));
        return command;
    }

    private sealed record BenchSettings(string Nodes, string IssuerKey, int Clients, int Batch, int Seconds, string? LogPath, bool Receipts);

    private static async Task<int> RunAsync(BenchSettings settings, CancellationToken cancellationToken)
    {
        if (settings.Clients is < 1 or > ClientsMax || settings.Batch is < 1 or > BatchMax || settings.Seconds is < 1 or > SecondsMax)
        {
            throw new CommandException(ExitCodes.Usage, $"need 1 <= --clients <= {ClientsMax}, 1 <= --batch <= {BatchMax}, 1 <= --seconds <= {SecondsMax}");
        }

        var key = CliSupport.LoadSignerKey(settings.IssuerKey);
        var nodes = CliSupport.ParseNodes(settings.Nodes);
        var options = LedgerClientOptions.Default with { AttemptsMax = 1, CallTimeout = TimeSpan.FromSeconds(10) };
        using var client = new LedgerClient(nodes, options);
        try
        {
            // Reachable means: one of the nodes answers (a bench through a consortium may start while a member is down).
            using var probe = new LedgerClient(nodes, options with { AttemptsMax = nodes.Count });
            await probe.GetStatusAsync(cancellationToken);
        }
        catch (RpcException exception)
        {
            Console.Error.WriteLine($"ledger: node unreachable: {exception.StatusCode}: {exception.Status.Detail}");
            return ExitCodes.Failed;
        }

        await using var log = settings.LogPath is null ? null : new StreamWriter(settings.LogPath, append: true);
        var recorder = new BenchRecorder(log);
        var sample = settings.Receipts ? await SampleDigestsAsync(client, cancellationToken) : [];
        if (settings.Receipts && sample.Length == 0)
        {
            Console.Error.WriteLine("ledger: the log is empty: anchor something before benchmarking receipts");
            return ExitCodes.Failed;
        }

        var clock = Stopwatch.StartNew();
        var end = TimeSpan.FromSeconds(settings.Seconds);
        var workers = Enumerable.Range(0, settings.Clients)
            .Select(_ => Task.Run(
                () => settings.Receipts
                    ? RunReceiptClientAsync(client, sample, settings.Batch, clock, end, recorder, cancellationToken)
                    : RunClientAsync(client, key, settings.Batch, clock, end, recorder, cancellationToken),
                cancellationToken))
            .ToArray();
        await Task.WhenAll(workers);
        var elapsedSeconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"clients={settings.Clients} batch={settings.Batch} seconds={elapsedSeconds:F1} requests={recorder.Requests} digests={recorder.Digests}");
        Console.WriteLine(recorder.Summary(elapsedSeconds, settings.Receipts ? "receipts_per_s" : "digests_per_s"));
        return recorder.Errors == 0 ? ExitCodes.Ok : ExitCodes.Failed;
    }

    private static async Task RunClientAsync(
        LedgerClient client, SignerKey key, int batch, Stopwatch clock, TimeSpan end, BenchRecorder recorder, CancellationToken cancellationToken)
    {
        while (clock.Elapsed < end && !cancellationToken.IsCancellationRequested)
        {
            // One call to the random number generator per request, not per digest: the load
            // generator shares the machine with the node and should cost it as little as possible.
            var random = RandomNumberGenerator.GetBytes(batch * Leaf.DigestLength);
            var digests = new byte[batch][];
            for (var i = 0; i < batch; i++)
            {
                digests[i] = random.AsSpan(i * Leaf.DigestLength, Leaf.DigestLength).ToArray();
            }

            var started = clock.Elapsed;
            try
            {
                await client.AnchorAsync(key, digests, includeReceipts: false, cancellationToken);
                recorder.Succeeded(digests, (clock.Elapsed - started).TotalMilliseconds);
            }
            catch (RpcException exception)
            {
                recorder.Failed(exception);
                await Task.Delay(TimeSpan.FromMilliseconds(50), cancellationToken);
            }
        }
    }

    private const int SampledPagesMax = 20;

    /// <summary>Digests of leaves read from up to <see cref="SampledPagesMax"/> pages of 1,000 at random places in the log.</summary>
    private static async Task<(byte[] Digest, string Issuer)[]> SampleDigestsAsync(LedgerClient client, CancellationToken cancellationToken)
    {
        var size = (await client.GetStatusAsync(cancellationToken)).TreeSize;
        var digests = new List<(byte[] Digest, string Issuer)>();
        for (var page = 0; page < SampledPagesMax && size > 0; page++)
        {
            var start = (ulong)Random.Shared.NextInt64((long)size);
            foreach (var bytes in await client.GetEntriesAsync(start, 1000, cancellationToken))
            {
                if (Leaf.TryDecode(bytes, out var leaf, out _))
                {
                    digests.Add((leaf!.Digest, leaf.Issuer));
                }
            }
        }

        return [.. digests];
    }

    private static async Task RunReceiptClientAsync(
        LedgerClient client, (byte[] Digest, string Issuer)[] sample, int batch, Stopwatch clock, TimeSpan end, BenchRecorder recorder, CancellationToken cancellationToken)
    {
        while (clock.Elapsed < end && !cancellationToken.IsCancellationRequested)
        {
            var (first, issuer) = sample[Random.Shared.Next(sample.Length)];
            var digests = batch <= 1
                ? [first]
                : Enumerable.Range(0, batch).Select(_ => sample[Random.Shared.Next(sample.Length)]).Where(s => s.Issuer == issuer).Select(s => s.Digest).ToArray();
            var started = clock.Elapsed;
            try
            {
                var receipts = digests.Length == 1
                    ? [await client.GetReceiptAsync(digests[0], issuer, cancellationToken)]
                    : await client.GetReceiptsAsync(digests, issuer, cancellationToken);
                if (receipts.Any(r => r is null))
                {
                    recorder.Failed(new RpcException(new Status(StatusCode.NotFound, "a sampled digest has no receipt")));
                    continue;
                }

                recorder.Succeeded(digests, (clock.Elapsed - started).TotalMilliseconds, logDigests: false);
            }
            catch (RpcException exception)
            {
                recorder.Failed(exception);
            }
        }
    }

    private sealed class BenchRecorder(StreamWriter? log)
    {
        private readonly Lock _lock = new();
        private readonly List<double> _latenciesMs = [];

        public long Requests { get; private set; }

        public long Digests { get; private set; }

        public long Errors { get; private set; }

        public void Succeeded(byte[][] digests, double latencyMs, bool logDigests = true)
        {
            lock (_lock)
            {
                Requests++;
                Digests += digests.Length;
                if (_latenciesMs.Count < LatencySamplesMax)
                {
                    _latenciesMs.Add(latencyMs);
                }

                if (log is not null && logDigests)
                {
                    foreach (var digest in digests)
                    {
                        log.WriteLine(Convert.ToHexStringLower(digest));
                    }

                    log.Flush();
                }
            }
        }

        public void Failed(RpcException exception)
        {
            lock (_lock)
            {
                if (Errors == 0)
                {
                    Console.Error.WriteLine($"ledger: first error: {exception.StatusCode}: {exception.Status.Detail}");
                }

                Errors++;
            }
        }

        public string Summary(double elapsedSeconds, string rateName)
        {
            lock (_lock)
            {
                _latenciesMs.Sort();
                var rate = elapsedSeconds > 0 ? Digests / elapsedSeconds : 0;
                return string.Create(
                    CultureInfo.InvariantCulture,
                    $"{rateName}={rate:F0} p50_ms={Percentile(0.50):F2} p99_ms={Percentile(0.99):F2} max_ms={Percentile(1.0):F2} errors={Errors}");
            }
        }

        private double Percentile(double fraction)
        {
            if (_latenciesMs.Count == 0)
            {
                return 0;
            }

            var rank = (int)Math.Ceiling(fraction * _latenciesMs.Count) - 1;
            return _latenciesMs[Math.Clamp(rank, 0, _latenciesMs.Count - 1)];
        }
    }
}
