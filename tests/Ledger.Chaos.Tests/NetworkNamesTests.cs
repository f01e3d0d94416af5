using Ledger.Chaos.Tests.Support;

namespace Ledger.Chaos.Tests;

/// <summary>Stale-run cleanup tells its own and dead runs' names from a live run's.</summary>
public sealed class NetworkNamesTests
{
    [Fact]
    public void Names_of_another_live_process_are_left_alone_and_all_others_are_stale()
    {
        // Process 1 (init) always runs and is never this test.
        Assert.True(ChaosNetwork.OwnedByAnotherLiveProcess($"{ChaosNetwork.Prefix}p1-a1b2c3-m0"));
        Assert.True(ChaosNetwork.OwnedByAnotherLiveProcess($"/tmp/{ChaosNetwork.Prefix}p1-run-0123/data-member-c"));
        Assert.False(ChaosNetwork.OwnedByAnotherLiveProcess($"{ChaosNetwork.OwnPrefix}a1b2c3-m0"));
        Assert.False(ChaosNetwork.OwnedByAnotherLiveProcess($"{ChaosNetwork.Prefix}p{int.MaxValue}-a1b2c3-hub"));
        Assert.False(ChaosNetwork.OwnedByAnotherLiveProcess($"{ChaosNetwork.Prefix}a1b2c3-m0"));
        Assert.False(ChaosNetwork.OwnedByAnotherLiveProcess($"{ChaosNetwork.Prefix}p-m0"));
    }
}
