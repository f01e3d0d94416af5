using System.Net;
using System.Security.Cryptography.X509Certificates;
using Ledger.Node.Api;
using Ledger.Node.Observability;
using OpenTelemetry.Metrics;
using Ledger.Replication;
using Ledger.Sdk;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Ledger.Node.Hosting;

/// <summary>Entry point of <c>ledger-node</c>: options, identity files, Kestrel (HTTP/2), the gRPC service, the node loops.</summary>
internal static class NodeProgram
{
    /// <summary>Exit code when a store was found damaged (docker/README.md lists the codes).</summary>
    internal const int DamageFoundExitCode = 3;

    private const string ReloadConfigOnChangeOff = "--hostBuilder:reloadConfigOnChange=false";

    public static async Task<int> RunAsync(string[] args)
    {
        var commandLine = NodeCommandLine.Parse(args);
        if (commandLine.Problem is not null)
        {
            await Console.Error.WriteLineAsync($"ledger-node: {commandLine.Problem} ('ledger-node --help' lists the options)");
            return 2;
        }

        if (commandLine.Informational is { } informational)
        {
            return await informational.InvokeAsync();
        }

        NodeHost host;
        try
        {
            host = await NodeHost.StartAsync(args, Console.Out);
        }
        catch (NodeStartException exception)
        {
            await Console.Error.WriteLineAsync("ledger-node: " + exception.Message);
            return 2;
        }
        catch (Ledger.Storage.StorageCorruptException exception)
        {
            // Found while starting (the mark is written): the next start repairs or refuses, as below.
            await Console.Error.WriteLineAsync("ledger-node: stored data is damaged, stopping: " + exception.Message
                + "; the next start repairs what it can rebuild and says what to do about the rest");
            return DamageFoundExitCode;
        }

        await using (host)
        {
            var shutdown = host.App.WaitForShutdownAsync();
            var ended = await Task.WhenAny(shutdown, host.Node.ApplyFailed, host.Node.Damage.Found);
            if (ended == host.Node.Damage.Found)
            {
                await Console.Error.WriteLineAsync("ledger-node: stored data is damaged, stopping: " + host.Node.Damage.Found.Exception?.InnerException?.Message
                    + "; " + host.Node.Damage.NextStart(host.Node.Replica is not null));
                return DamageFoundExitCode;
            }

            if (ended != shutdown)
            {
                await Console.Error.WriteLineAsync("ledger-node: apply failed, stopping; a restart rebuilds the state from the log: "
                    + host.Node.ApplyFailed.Exception?.InnerException?.Message);
                return 1;
            }
        }

        return 0;
    }

    /// <summary>Builds the host from arguments and configuration; throws <see cref="NodeStartException"/> for what the operator must fix.</summary>
    internal static (WebApplication App, LedgerNode Node) Build(string[] args)
    {
        // Configuration files are read once at start. Reloading them on change would watch the working
        // directory, which holds the data directory by default: every write of the store would wake a
        // file-system watcher (a tenth of the node's CPU under load).
        var commandLine = NodeCommandLine.Parse(args);
        if (commandLine.Problem is not null || commandLine.Informational is not null)
        {
            throw new NodeStartException(commandLine.Problem ?? "--help and --version start no node");
        }

        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [ReloadConfigOnChangeOff] });
        builder.Configuration.AddInMemoryCollection(commandLine.Settings);
        var options = new NodeOptions();
        try
        {
            builder.Configuration.GetSection(NodeOptions.SectionName).Bind(options);
        }
        catch (InvalidOperationException exception)
        {
            // A value from appsettings.json or the environment that does not convert (the command line's were checked).
            throw new NodeStartException(exception.Message);
        }

        var problem = options.Validate() ?? ValidateListen(options, out _) ?? ValidateMetricsListen(options);
        if (problem is not null)
        {
            throw new NodeStartException(problem);
        }

        var (files, consortium, memberKey) = LoadIdentity(options);
        ConfigureServer(builder, options);
        builder.Services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = options.MessageBytesMax;
            grpc.MaxSendMessageSize = options.MessageBytesMax;
            grpc.Interceptors.Add<DeserializedMarker>();
            grpc.Interceptors.Add<HandlerFailureLog>();
        }).AddServiceOptions<PeerService>(peer =>
        {
            peer.MaxReceiveMessageSize = GrpcPeerTransport.PeerMessageBytesMax;
            peer.MaxSendMessageSize = GrpcPeerTransport.PeerMessageBytesMax;
        });
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        // gRPC's server logs every refused call at Information: under a flood of bad requests that is
        // a log line per request. Refusals are counted in the metrics instead.
        builder.Logging.AddFilter("Grpc", LogLevel.Warning);
        // Its handler log reports every failed call with a stack trace; HandlerFailureLog reports the node's own.
        builder.Logging.AddFilter("Grpc.AspNetCore.Server.ServerCallHandler", LogLevel.None);
        // Long-lived streams end when the host stops; this bounds what is left (clients that hold calls open).
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(5));
        builder.Services.AddSingleton(services =>
        {
            var created = new LedgerNode(options, files, consortium, memberKey, services.GetRequiredService<ILogger<LedgerNode>>(), services.GetRequiredService<ILoggerFactory>());
            created.AttachMetrics(new NodeMetrics(services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), created));
            return created;
        });
        // Checks run on each call (not from a periodic cache), so the answer is current.
        builder.Services.AddGrpcHealthChecks(health => health.UseHealthChecksCache = false).AddCheck<NodeHealthCheck>("ledger");
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics.AddMeter(NodeMetrics.MeterName).AddPrometheusExporter());
        builder.Services.AddHostedService<Replicated.LeadershipHandoff>();
        builder.Services.AddSingleton(services => services.GetRequiredService<LedgerNode>().Replica?.Peers
            ?? throw new InvalidOperationException("a one-member consortium has no peer service"));
        var app = builder.Build();
        // At most 16 largest messages held at once (docs/hostile-input.md).
        app.Use(new RequestBodyBudget(16L * options.MessageBytesMax, options.MessageBytesMax).InvokeAsync);
        app.MapGrpcService<LedgerApiService>();
        app.MapGrpcHealthChecksService();
        var scrape = app.MapPrometheusScrapingEndpoint("/metrics");
        if (options.MetricsListen is not null)
        {
            scrape.RequireHost($"*:{new Uri(options.MetricsListen).Port}");
        }

        LedgerNode node;
        try
        {
            node = app.Services.GetRequiredService<LedgerNode>();
        }
        catch (RocksDbSharp.RocksDbException exception)
        {
            throw new NodeStartException($"cannot open the data directory {files.DataDir}: {exception.Message}");
        }

        if (node.Replica is not null)
        {
            app.MapGrpcService<PeerService>();
        }

        return (app, node);
    }

    private static (NodeFiles Files, Consortium Consortium, SignerKey MemberKey) LoadIdentity(NodeOptions options)
    {
        try
        {
            var files = DevelopmentLedger.Prepare(options);
            var consortium = Consortium.Load(files.ConsortiumPath);
            var memberKey = SignerKey.Load(files.MemberKeyPath);
            var member = consortium.FindMember(memberKey.Name);
            if (member is null || member.Key.Id != memberKey.Id)
            {
                throw new NodeStartException($"the member key '{memberKey.Name}' ({files.MemberKeyPath}) is not a member of {files.ConsortiumPath}");
            }

            if (consortium.Members.Count > 1)
            {
                foreach (var other in consortium.Members.Where(m => m.Address is null && string.IsNullOrWhiteSpace(options.DiscoveryInterfaces)))
                {
                    throw new NodeStartException(
                        $"member '{other.Id}' in {files.ConsortiumPath} has no address: give every member one, or let members find each other with --discovery-interfaces");
                }

                if (!string.IsNullOrWhiteSpace(options.DiscoveryInterfaces) && new Uri(options.Listen).Port == 0)
                {
                    throw new NodeStartException("--discovery-interfaces needs a fixed --listen port: the port is what the node announces");
                }

                if (!options.AllowPlaintext && consortium.Members.FirstOrDefault(IsPlainOffLoopback) is { } plain)
                {
                    throw new NodeStartException(
                        $"member '{plain.Id}' has the address {plain.Address}: members on other machines must use https:// (or --allow-plaintext true on a trusted network)");
                }
            }

            return (files, consortium, memberKey);
        }
        catch (Exception exception) when (exception is IOException or FormatException or UnauthorizedAccessException)
        {
            throw new NodeStartException(exception.Message);
        }
    }

    private static string? ValidateMetricsListen(NodeOptions options)
    {
        if (options.MetricsListen is null)
        {
            return null;
        }

        return Uri.TryCreate(options.MetricsListen, UriKind.Absolute, out var uri) && uri.Scheme == "http" && IPAddress.TryParse(uri.Host, out _) && uri.Port > 0
            && uri.Port != new Uri(options.Listen).Port
            ? null
            : $"--metrics-listen '{options.MetricsListen}' must be http://<ip>:<port>, on another port than --listen";
    }

    private static bool IsPlainOffLoopback(ConsortiumMember member) =>
        member.Address is { } address && Uri.TryCreate(address, UriKind.Absolute, out var uri) && uri.Scheme == "http" && !IsLoopback(uri);

    private static string? ValidateListen(NodeOptions options, out Uri? uri)
    {
        if (!Uri.TryCreate(options.Listen, UriKind.Absolute, out uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
        {
            return $"--listen '{options.Listen}' is not an http:// or https:// address";
        }

        if (uri.Scheme == "https" && (options.TlsCertificate is null || options.TlsKey is null))
        {
            return "an https listener needs --tls-certificate and --tls-key (PEM files)";
        }

        if (uri.Scheme == "http" && !options.AllowPlaintext && !IsLoopback(uri))
        {
            return $"refusing plain HTTP/2 on {uri.Host}: use https:// with --tls-certificate/--tls-key, or --allow-plaintext true on a trusted network";
        }

        return null;
    }

    private static bool IsLoopback(Uri uri) =>
        uri.IsLoopback || (IPAddress.TryParse(uri.Host, out var ip) && IPAddress.IsLoopback(ip));

    private static void ConfigureServer(WebApplicationBuilder builder, NodeOptions options)
    {
        var uri = new Uri(options.Listen);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = 2L * options.MessageBytesMax;
            kestrel.Limits.Http2.MaxStreamsPerConnection = 1024;
            var address = uri.Host == "localhost" ? IPAddress.Loopback : IPAddress.Parse(uri.Host);
            kestrel.Listen(address, uri.Port, listen =>
            {
                // Plain text carries HTTP/2 only (gRPC needs it and Kestrel cannot offer both without
                // TLS); with TLS, ALPN lets HTTP/1.1 clients (a Prometheus scrape) in as well.
                listen.Protocols = HttpProtocols.Http2;
                if (uri.Scheme == "https")
                {
                    listen.Protocols = HttpProtocols.Http1AndHttp2;
                    listen.UseHttps(X509Certificate2.CreateFromPemFile(options.TlsCertificate!, options.TlsKey));
                }
            });
            if (options.MetricsListen is not null)
            {
                var metrics = new Uri(options.MetricsListen);
                kestrel.Listen(IPAddress.Parse(metrics.Host), metrics.Port, listen => listen.Protocols = HttpProtocols.Http1);
            }
        });
    }
}
