using System.Diagnostics;
using Grpc.Core;

namespace Ledger.TestKit;

/// <summary>
/// How soon a gRPC client reaches a server again after the server was down: the calls made while it
/// is down, then calls until one is answered. A call counts as answered unless it is refused with
/// <see cref="StatusCode.Unavailable"/> (any other status proves a connection).
/// </summary>
public static class Reconnection
{
    /// <summary>Calls <paramref name="call"/> every 100 ms for <paramref name="duration"/>; returns each call's status (OK when it succeeded).</summary>
    public static async Task<IReadOnlyList<StatusCode>> CallForAsync(Func<Task> call, TimeSpan duration)
    {
        var statuses = new List<StatusCode>();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            statuses.Add((await StatusOfAsync(call)).Status);
            await Task.Delay(100);
        }

        return statuses;
    }

    /// <summary>
    /// Calls <paramref name="call"/> every 50 ms until it is answered or <paramref name="giveUp"/> has
    /// passed. Returns the time that took, the last call's status, and the refusals met on the way
    /// (time and detail, distinct) for a failure message.
    /// </summary>
    public static async Task<(TimeSpan Elapsed, StatusCode Status, IReadOnlyList<string> Refusals)> UntilAnsweredAsync(Func<Task> call, TimeSpan giveUp)
    {
        var refusals = new List<string>();
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var (status, detail) = await StatusOfAsync(call);
            if (status != StatusCode.Unavailable || clock.Elapsed >= giveUp)
            {
                return (clock.Elapsed, status, refusals.Distinct().ToList());
            }

            refusals.Add($"{clock.Elapsed.TotalSeconds:0.00} s: {detail}");
            await Task.Delay(50);
        }
    }

    private static async Task<(StatusCode Status, string Detail)> StatusOfAsync(Func<Task> call)
    {
        try
        {
            await call();
            return (StatusCode.OK, "");
        }
        catch (RpcException exception)
        {
            return (exception.StatusCode, exception.Status.Detail);
        }
    }
}
