using System.Security.Cryptography;
using Ledger.Node.Hosting;
using Ledger.Node.Tests.Support;
using Ledger.Sdk;
using Ledger.Sdk.Client;
using Ledger.TestKit;

namespace Ledger.Node.Tests;

/// <summary>The test setting <c>Ledger:ClockOffsetMs</c> moves the node's wall clock (the fault-injection suite runs a member whose clock is far off).</summary>
public sealed class ClockOffsetTests
{
    /// <summary>Two minutes: within the default nonce window (5 min), so the node still admits requests stamped by the issuer's clock.</summary>
    private const long OffsetMs = 120_000;
    private static readonly TimeSpan StepTimeout = TimeSpan.FromMinutes(2);

    [Fact]
    public void An_offset_beyond_one_day_either_way_is_refused_at_start()
    {
        Assert.Null(new NodeOptions { ClockOffsetMs = NodeOptions.ClockOffsetMsMax }.Validate());
        Assert.Null(new NodeOptions { ClockOffsetMs = -NodeOptions.ClockOffsetMsMax }.Validate());
        Assert.Contains("ClockOffsetMs", new NodeOptions { ClockOffsetMs = NodeOptions.ClockOffsetMsMax + 1 }.Validate(), StringComparison.Ordinal);
        Assert.Contains("ClockOffsetMs", new NodeOptions { ClockOffsetMs = -NodeOptions.ClockOffsetMsMax - 1 }.Validate(), StringComparison.Ordinal);
        Assert.Equal("Ledger:ClockOffsetMs", NodeCommandLine.SwitchMappings["--clock-offset-ms"]);
    }

    [Fact]
    public void The_wall_clock_never_goes_below_zero() => Assert.Equal(0UL, LedgerNode.WallClockMs(long.MinValue / 2));

    [Fact]
    public async Task A_node_whose_clock_is_ahead_stamps_its_leaves_ahead()
    {
        using var dir = new TempDirectory("ledger-node-clock");
        var environment = new Dictionary<string, string> { ["Ledger__Listen"] = "http://127.0.0.1:0", ["Ledger__ClockOffsetMs"] = OffsetMs.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        using var node = RunningProgram.Start(RepoPaths.NodeDll, [], dir.Path, environment);
        var address = await node.WaitForAddressAsync(StepTimeout);
        var issuer = SignerKey.Load(Path.Combine(dir.Path, "ledger-data", "dev-issuer.key"));
        using var client = new LedgerClient([new Uri(address)]);
        var before = (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        var result = await client.AnchorAsync(issuer, [RandomNumberGenerator.GetBytes(32)], includeReceipts: true);

        Assert.True(Receipt.TryParse(result.Receipts[0], out var receipt, out var error), error);
        Assert.True(Leaf.TryDecode(receipt!.LeafBytes, out var leaf, out error), error);
        Assert.True(leaf!.TimestampMs >= before + (ulong)OffsetMs, $"leaf stamped {leaf.TimestampMs}, expected at least {before + (ulong)OffsetMs}");
    }
}
