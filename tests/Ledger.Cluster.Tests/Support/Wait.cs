namespace Ledger.Cluster.Tests.Support;

/// <summary>Polling with a deadline: every wait in these tests ends.</summary>
internal static class Wait
{
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>Polls <paramref name="condition"/> until it holds; throws <see cref="TimeoutException"/> with <paramref name="what"/> and the last state otherwise.</summary>
    public static async Task UntilAsync(string what, TimeSpan timeout, Func<CancellationToken, Task<(bool Done, string State)>> condition, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        var state = "(never checked)";
        while (true)
        {
            var (done, now) = await condition(cancellationToken);
            state = now;
            if (done)
            {
                return;
            }

            if (DateTime.UtcNow >= deadline)
            {
                throw new TimeoutException($"{what}: not reached within {timeout.TotalSeconds:0.#} s; last seen: {state}");
            }

            await Task.Delay(PollInterval, cancellationToken);
        }
    }
}
