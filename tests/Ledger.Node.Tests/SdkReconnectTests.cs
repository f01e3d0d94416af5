using Grpc.Core;
using Ledger.Node.Tests.Support;
using Ledger.Sdk.Client;
using Ledger.TestKit;

namespace Ledger.Node.Tests;

/// <summary>
/// Tests that measure how soon something happens run alone (<see cref="RunAlone"/>): the other
/// tests of this process host nodes of their own, whose work could delay this one's timers.
/// </summary>
[Collection(RunAlone.Name)]
public sealed class SdkReconnectTests
{
    /// <summary>
    /// An SDK client whose node was down for a while reaches it within about a second of its restart.
    /// gRPC's default reconnect backoff would by then wait several seconds more (1 s, growing by 1.6
    /// per failed connect, up to 2 minutes), refusing every call meanwhile.
    /// </summary>
    [Fact]
    public async Task An_sdk_client_reaches_its_node_again_within_about_a_second_of_a_restart_after_a_long_stop()
    {
        var port = LoopbackPorts.Free();
        var first = await InProcessNode.StartAsync("--listen", $"http://127.0.0.1:{port}");
        InProcessNode? second = null;
        try
        {
            using var client = new LedgerClient([new Uri($"http://127.0.0.1:{port}")], new LedgerClientOptions(TimeSpan.FromSeconds(1), 1, TimeSpan.Zero));
            Assert.Equal(0UL, (await client.GetStatusAsync(CancellationToken.None)).TreeSize);
            await first.StopAsync();

            var whileDown = await Reconnection.CallForAsync(() => client.GetStatusAsync(CancellationToken.None), TimeSpan.FromSeconds(10));
            Assert.All(whileDown, status => Assert.Equal(StatusCode.Unavailable, status));

            second = await first.StartAgainAsync();
            var (elapsed, answered, refusals) = await Reconnection.UntilAnsweredAsync(() => client.GetStatusAsync(CancellationToken.None), TimeSpan.FromSeconds(10));
            Assert.Equal(StatusCode.OK, answered);
            Assert.True(elapsed < TimeSpan.FromSeconds(3), $"reached {elapsed.TotalSeconds:0.0} s after the restart; refused meanwhile:\n{string.Join('\n', refusals)}");
        }
        finally
        {
            await (second ?? first).DisposeAsync();
        }
    }
}

/// <summary>Tests that run after all others of this assembly, one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RunAlone
{
    public const string Name = "alone";
}
