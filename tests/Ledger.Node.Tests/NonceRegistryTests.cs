using Ledger.Node.Admission;

namespace Ledger.Node.Tests;

/// <summary>The nonce registry's count, which admission reads on every request, follows every way a pair comes and goes.</summary>
public sealed class NonceRegistryTests
{
    private const ulong WindowMs = 60_000;

    private static byte[] Nonce(int n) => BitConverter.GetBytes(n).Concat(new byte[12]).ToArray();

    [Fact]
    public void Reserving_counts_each_new_pair_once_and_fills_at_the_maximum()
    {
        var registry = new NonceRegistry(WindowMs, entriesMax: 3);
        Assert.True(registry.TryReserve("a", Nonce(1), 1_000));
        Assert.False(registry.TryReserve("a", Nonce(1), 1_000));
        Assert.True(registry.TryReserve("b", Nonce(1), 1_000));
        Assert.Equal(2, registry.Count);
        Assert.False(registry.IsFull);

        Assert.True(registry.TryReserve("a", Nonce(2), 1_000));
        Assert.Equal(3, registry.Count);
        Assert.True(registry.IsFull);
    }

    [Fact]
    public void Releasing_frees_a_pair_once_and_an_unknown_pair_changes_nothing()
    {
        var registry = new NonceRegistry(WindowMs, entriesMax: 2);
        registry.TryReserve("a", Nonce(1), 1_000);
        registry.TryReserve("a", Nonce(2), 1_000);
        Assert.True(registry.IsFull);

        registry.Release("a", Nonce(1));
        registry.Release("a", Nonce(1));
        registry.Release("z", Nonce(9));
        Assert.Equal(1, registry.Count);
        Assert.False(registry.IsFull);
        Assert.True(registry.TryReserve("a", Nonce(1), 1_000));
    }

    [Fact]
    public void Restoring_a_pair_twice_counts_it_once_and_keeps_the_later_time()
    {
        var registry = new NonceRegistry(WindowMs, entriesMax: 10);
        registry.Restore("a", Nonce(1), 1_000);
        registry.Restore("a", Nonce(1), 90_000);
        registry.Restore("a", Nonce(2), 1_000);
        Assert.Equal(2, registry.Count);

        // 100 s: a window of 60 s keeps only what was issued at 40 s or later.
        Assert.Equal(1, registry.Prune(100_000));
        Assert.Equal(1, registry.Count);
        Assert.False(registry.TryReserve("a", Nonce(1), 100_000));
        Assert.True(registry.TryReserve("a", Nonce(2), 100_000));
    }

    [Fact]
    public async Task Concurrent_reserves_and_releases_leave_the_count_equal_to_the_pairs_held()
    {
        var registry = new NonceRegistry(WindowMs, entriesMax: 1_000_000);
        var workers = Enumerable.Range(0, 4).Select(worker => Task.Run(() =>
        {
            for (var i = 0; i < 20_000; i++)
            {
                // Every worker contends for the same pairs; odd ones are released again.
                if (registry.TryReserve("a", Nonce(i), 1_000) && i % 2 == 1)
                {
                    registry.Release("a", Nonce(i));
                }
            }
        }));
        await Task.WhenAll(workers);

        Assert.Equal(10_000, registry.Count);
        Assert.Equal(10_000, registry.Prune(ulong.MaxValue));
        Assert.Equal(0, registry.Count);
    }
}
