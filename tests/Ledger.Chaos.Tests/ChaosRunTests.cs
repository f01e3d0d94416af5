using Ledger.Chaos.Tests.Support;

namespace Ledger.Chaos.Tests;

public sealed class ChaosRunTests
{
    [Theory]
    [InlineData(3, 5)]
    [InlineData(10, 5)]
    [InlineData(20, 10)]
    [InlineData(120, 60)]
    public void The_checker_gets_half_the_fault_phase_and_never_less_than_five_minutes(int faultMinutes, int checkerMinutes) =>
        Assert.Equal(TimeSpan.FromMinutes(checkerMinutes), ChaosRun.CheckerTimeout(TimeSpan.FromMinutes(faultMinutes)));
}
