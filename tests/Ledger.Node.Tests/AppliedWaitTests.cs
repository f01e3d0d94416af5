using Ledger.Node.Tests.Support;

namespace Ledger.Node.Tests;

/// <summary>
/// Waiting for the applied tree to reach a size (a cosignature request, a forwarded anchor, a
/// linearizable read) ends when its caller gives up. A five-member fault campaign found a lagging
/// member whose waits, cancelled by their callers' deadlines, kept looping without pause until its
/// tree got there: hundreds of them took the CPU its apply needed, and its catch-up slowed to about
/// 140 leaves a second.
/// </summary>
public sealed class AppliedWaitTests
{
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_wait_for_a_size_the_tree_does_not_reach_ends_when_its_caller_cancels()
    {
        await using var node = await InProcessNode.StartAsync();
        using var caller = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        var wait = Task.Run(() => node.Host.Node.WaitForTreeSizeAsync(node.Host.Node.State.TreeSize + 1_000_000, caller.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait.WaitAsync(Guard));
    }

    [Fact]
    public async Task A_wait_whose_caller_cancelled_already_ends_at_once()
    {
        await using var node = await InProcessNode.StartAsync();
        var wait = Task.Run(() => node.Host.Node.WaitForAppliedIndexAsync(ulong.MaxValue, new CancellationToken(canceled: true)));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait.WaitAsync(Guard));
    }

    [Fact]
    public async Task A_wait_for_a_size_the_tree_has_ends_at_once_even_when_cancelled()
    {
        await using var node = await InProcessNode.StartAsync();
        await Task.Run(() => node.Host.Node.WaitForTreeSizeAsync(node.Host.Node.State.TreeSize, new CancellationToken(canceled: true))).WaitAsync(Guard);
    }
}
