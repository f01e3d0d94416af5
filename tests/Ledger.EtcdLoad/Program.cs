using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;

namespace Ledger.EtcdLoad;

/// <summary>
/// <c>etcd-load --endpoints URL[,URL...] [--clients N] [--batch B] [--seconds S]</c>: the etcd side of the
/// comparison with <c>ledger bench</c>. N concurrent clients each commit one transaction of B puts of fresh
/// random 32-byte keys per request for S seconds. The last line is
/// <c>keys_per_s=&lt;n&gt; p50_ms=&lt;x&gt; p99_ms=&lt;y&gt; max_ms=&lt;z&gt; errors=&lt;k&gt;</c>, computed the same
/// way as ledger bench's line. Exit 0; 1 if etcd was unreachable or any request failed; 2 on bad arguments.
/// </summary>
internal static class Program
{
    private const int Ok = 0;
    private const int Failed = 1;
    private const int Usage = 2;
    private const int Interrupted = 130;

    private const int ClientsMax = 1_024;

    // etcd refuses transactions of more than --max-txn-ops operations (128 by default).
    private const int BatchMax = 128;
    private const int SecondsMax = 3_600;
    private const int KeyLength = 32;
    private const int ValueLength = 8;
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(10);

    public static async Task<int> Main(string[] args)
    {
        var endpoints = new Option<string>("--endpoints") { Description = "etcd client URLs, comma-separated", Required = true };
        var clients = new Option<int>("--clients") { Description = "Concurrent clients", DefaultValueFactory = _ => 16 };
        var batch = new Option<int>("--batch") { Description = "Puts per transaction", DefaultValueFactory = _ => 100 };
        var seconds = new Option<int>("--seconds") { Description = "Duration", DefaultValueFactory = _ => 10 };
        var root = new RootCommand("etcd-load: concurrent clients committing transactions of random puts to etcd; reports keys/s and latency.")
        {
            endpoints, clients, batch, seconds,
        };
        root.SetAction((parseResult, cancellationToken) => RunAsync(
            new LoadSettings(parseResult.GetValue(endpoints)!, parseResult.GetValue(clients), parseResult.GetValue(batch), parseResult.GetValue(seconds)),
            cancellationToken));

        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors)
            {
                await Console.Error.WriteLineAsync("etcd-load: " + error.Message);
            }

            return Usage;
        }

        return await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
    }

    private sealed record LoadSettings(string Endpoints, int Clients, int Batch, int Seconds);

    private static async Task<int> RunAsync(LoadSettings settings, CancellationToken cancellationToken)
    {
        if (settings.Clients is < 1 or > ClientsMax || settings.Batch is < 1 or > BatchMax || settings.Seconds is < 1 or > SecondsMax)
        {
            await Console.Error.WriteLineAsync($"etcd-load: need 1 <= --clients <= {ClientsMax}, 1 <= --batch <= {BatchMax}, 1 <= --seconds <= {SecondsMax}");
            return Usage;
        }

        var urls = settings.Endpoints.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (urls.Length == 0 || urls.Any(u => !Uri.TryCreate(u, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp))
        {
            await Console.Error.WriteLineAsync($"etcd-load: --endpoints must be http:// URLs, comma-separated, not '{settings.Endpoints}'");
            return Usage;
        }

        using var client = new EtcdClient(string.Join(',', urls), configureChannelOptions: options => options.Credentials = ChannelCredentials.Insecure);
        try
        {
            await client.StatusAsync(new StatusRequest(), deadline: DateTime.UtcNow + CallTimeout, cancellationToken: cancellationToken);
        }
        catch (RpcException exception)
        {
            await Console.Error.WriteLineAsync($"etcd-load: etcd unreachable: {exception.StatusCode}: {exception.Status.Detail}");
            return Failed;
        }

        var recorder = new LoadRecorder();
        var clock = Stopwatch.StartNew();
        var end = TimeSpan.FromSeconds(settings.Seconds);
        var workers = Enumerable.Range(0, settings.Clients)
            .Select(_ => Task.Run(() => RunClientAsync(client, settings.Batch, clock, end, recorder, cancellationToken), CancellationToken.None))
            .ToArray();
        await Task.WhenAll(workers);
        var elapsedSeconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"clients={settings.Clients} batch={settings.Batch} seconds={elapsedSeconds:F1} requests={recorder.Requests} keys={recorder.Keys}"));
        Console.WriteLine(recorder.Summary(elapsedSeconds));
        if (cancellationToken.IsCancellationRequested)
        {
            await Console.Error.WriteLineAsync("etcd-load: interrupted; the numbers above cover the run until then");
            return Interrupted;
        }

        return recorder.Errors == 0 ? Ok : Failed;
    }

    private static async Task RunClientAsync(EtcdClient client, int batch, Stopwatch clock, TimeSpan end, LoadRecorder recorder, CancellationToken cancellationToken)
    {
        while (clock.Elapsed < end && !cancellationToken.IsCancellationRequested)
        {
            // One call to the random number generator per request, as ledger bench does for its digests.
            var random = RandomNumberGenerator.GetBytes(batch * (KeyLength + ValueLength));
            var request = new TxnRequest();
            for (var i = 0; i < batch; i++)
            {
                var offset = i * (KeyLength + ValueLength);
                request.Success.Add(new RequestOp
                {
                    RequestPut = new PutRequest
                    {
                        Key = ByteString.CopyFrom(random, offset, KeyLength),
                        Value = ByteString.CopyFrom(random, offset + KeyLength, ValueLength),
                    },
                });
            }

            var started = clock.Elapsed;
            try
            {
                var response = await client.TransactionAsync(request, deadline: DateTime.UtcNow + CallTimeout, cancellationToken: cancellationToken);
                if (response.Succeeded)
                {
                    recorder.Succeeded(batch, (clock.Elapsed - started).TotalMilliseconds);
                }
                else
                {
                    recorder.Failed("transaction not applied (its empty comparison failed)");
                }
            }
            catch (RpcException exception) when (!cancellationToken.IsCancellationRequested)
            {
                recorder.Failed($"{exception.StatusCode}: {exception.Status.Detail}");
                await Task.Delay(TimeSpan.FromMilliseconds(50), CancellationToken.None);
            }
            catch (Exception exception) when (cancellationToken.IsCancellationRequested && exception is OperationCanceledException or RpcException)
            {
                // Interrupted (Ctrl-C or SIGTERM): the request in flight is neither a success nor an error.
                return;
            }
        }
    }
}
