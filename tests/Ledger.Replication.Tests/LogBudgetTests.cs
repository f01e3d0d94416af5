using Ledger.Replication;

namespace Ledger.Replication.Tests;

public sealed class LogBudgetTests
{
    [Fact]
    public void One_noisy_source_does_not_use_up_the_lines_of_another()
    {
        var budget = new KeyedLogBudget(3, TimeSpan.FromHours(1), sourcesMax: 4);
        Assert.Equal([true, true, true, false, false], Enumerable.Range(0, 5).Select(_ => budget.TryTake("member-x", out _)));
        Assert.True(budget.TryTake("member-c", out var heldBack));
        Assert.Equal(0, heldBack);

        // The next line of the noisy source, once allowed, says how many of its own were held back.
        // A window long enough that a pause of the test thread cannot end it between the three calls.
        var single = new LogBudget(1, TimeSpan.FromMilliseconds(500));
        Assert.True(single.TryTake(out _));
        Assert.False(single.TryTake(out _));
        Assert.False(single.TryTake(out _));
        Thread.Sleep(600);
        Assert.True(single.TryTake(out heldBack));
        Assert.Equal(2, heldBack);
    }

    [Fact]
    public void Sources_beyond_the_bound_share_one_budget_and_long_names_are_cut()
    {
        var budget = new KeyedLogBudget(2, TimeSpan.FromHours(1), sourcesMax: 2);
        Assert.True(budget.TryTake("a", out _));
        Assert.True(budget.TryTake("b", out _));

        // Every further name draws on one shared budget of 2 lines.
        Assert.Equal([true, true, false, false], Enumerable.Range(0, 4).Select(i => budget.TryTake("other-" + i, out _)));

        // Names that agree on their first SourceLengthMax characters are one source.
        var cut = new KeyedLogBudget(1, TimeSpan.FromHours(1), sourcesMax: 10);
        var prefix = new string('m', KeyedLogBudget.SourceLengthMax);
        Assert.True(cut.TryTake(prefix + "1", out _));
        Assert.False(cut.TryTake(prefix + "2", out _));
        Assert.True(cut.TryTake("short", out _));
    }
}
