using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Ledger.Node.Hosting;

/// <summary>A problem the operator must fix before the node can start (bad option, unreadable key, ...).</summary>
internal sealed class NodeStartException(string message) : Exception(message);

/// <summary>A started node: the ASP.NET Core app, the node's parts and the address it listens on.</summary>
internal sealed class NodeHost : IAsyncDisposable
{
    private NodeHost(WebApplication app, LedgerNode node, string address)
    {
        App = app;
        Node = node;
        Address = address;
    }

    public WebApplication App { get; }

    public LedgerNode Node { get; }

    /// <summary>The bound address, e.g. <c>http://127.0.0.1:41234</c> when port 0 was asked for.</summary>
    public string Address { get; }

    /// <summary>Builds, replays the log, starts serving, and prints where everything is to <paramref name="output"/>.</summary>
    public static async Task<NodeHost> StartAsync(string[] args, TextWriter output)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        var (app, node) = NodeProgram.Build(args);
        var openedMs = started.ElapsedMilliseconds;
        try
        {
            node.Start();
            await node.WaitReadyAsync(CancellationToken.None);
            await app.StartAsync();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        await output.WriteAsync(LedgerNode.Describe(node.Files, address, address.StartsWith("http:", StringComparison.Ordinal)));
        await output.WriteAsync($"  ready in {started.ElapsedMilliseconds} ms (state opened in {openedMs} ms); tree size {node.State.TreeSize}\n");
        await output.FlushAsync();
        return new NodeHost(app, node, address);
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
