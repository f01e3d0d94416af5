using Ledger.TestKit;
using Grpc.Net.Client;
using Ledger.Node.Hosting;
using Ledger.Sdk;

namespace Ledger.Node.Tests.Support;

/// <summary>A development node hosted in this process on real Kestrel (127.0.0.1, port chosen at run time).</summary>
internal sealed class InProcessNode : IAsyncDisposable
{
    private readonly TempDirectory _dir;
    private readonly string[] _args;
    private readonly SignerKey? _issuerKey;
    private bool _stopped;

    private InProcessNode(TempDirectory dir, string[] args, NodeHost host)
    {
        _dir = dir;
        _args = args;
        Host = host;
        Channel = GrpcChannel.ForAddress(host.Address, new GrpcChannelOptions { MaxSendMessageSize = null, MaxReceiveMessageSize = null });
        Client = new Sdk.Protos.V1.Ledger.LedgerClient(Channel);
        var issuerKeyPath = host.Node.Files.DevelopmentIssuerKeyPath;
        _issuerKey = issuerKeyPath is null ? null : SignerKey.Load(issuerKeyPath);
    }

    public NodeHost Host { get; }

    public GrpcChannel Channel { get; }

    public Sdk.Protos.V1.Ledger.LedgerClient Client { get; }

    /// <summary>The development issuer's key (only for a node that created the development ledger).</summary>
    public SignerKey IssuerKey => _issuerKey ?? throw new InvalidOperationException("this node has no development issuer key");

    public string Origin => Host.Node.Consortium.Origin;

    public Consortium Consortium => Host.Node.Consortium;

    public static async Task<InProcessNode> StartAsync(params string[] extraArgs)
    {
        var dir = new TempDirectory("ledger-node-tests");
        try
        {
            string[] args = ["--data-dir", Path.Combine(dir.Path, "data"), "--listen", "http://127.0.0.1:0", .. extraArgs];
            var host = await NodeHost.StartAsync(args, TextWriter.Null);
            return new InProcessNode(dir, args, host);
        }
        catch
        {
            dir.Dispose();
            throw;
        }
    }

    /// <summary>Stops this node cleanly and starts a new one on the same data directory.</summary>
    public async Task<InProcessNode> RestartAsync(Action<string>? whileStopped = null)
    {
        await StopAsync();
        whileStopped?.Invoke(DataDir);
        return new InProcessNode(_dir, _args, await NodeHost.StartAsync(_args, TextWriter.Null));
    }

    /// <summary>The node's data directory.</summary>
    public string DataDir => Host.Node.Files.DataDir;

    /// <summary>Stops this node cleanly; <see cref="StartAgainAsync"/> starts a new one on the same data directory.</summary>
    public async Task StopAsync()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        Channel.Dispose();
        await Host.DisposeAsync();
    }

    /// <summary>Starts a node again on the data directory of this stopped one.</summary>
    public async Task<InProcessNode> StartAgainAsync() => new(_dir, _args, await NodeHost.StartAsync(_args, TextWriter.Null));

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _dir.Dispose();
    }
}
