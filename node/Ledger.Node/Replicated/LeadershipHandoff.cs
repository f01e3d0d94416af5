using Ledger.Node.Hosting;

namespace Ledger.Node.Replicated;

/// <summary>
/// Before a leader stops gracefully (SIGTERM, Ctrl-C, a container stop), it hands leadership to its
/// most up-to-date follower while it still serves, so that a rolling restart of the consortium
/// does not make clients wait for an election timeout. Runs before the listener closes.
/// </summary>
internal sealed partial class LeadershipHandoff(LedgerNode node, ILogger<LeadershipHandoff> logger) : IHostedLifecycleService
{
    /// <summary>How long a stopping leader waits for its successor to take over.</summary>
    public static readonly TimeSpan Wait = TimeSpan.FromSeconds(2);

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        if (node.Replica is not { IsLeader: true } replica)
        {
            return;
        }

        try
        {
            var successor = await replica.HandOffLeadershipAsync(Wait, cancellationToken);
            if (successor is null)
            {
                return;
            }

            if (replica.IsLeader)
            {
                LogHandOffPending(successor, (int)Wait.TotalMilliseconds);
            }
            else
            {
                LogHandedOff(successor);
            }
        }
        catch (OperationCanceledException)
        {
            // The host's shutdown timeout ran out first; stopping goes on.
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    // Stepping down is what this member sees: the election the transfer starts is usually won by the
    // member asked, but another one whose own timeout fired at the same moment may win it.
    [LoggerMessage(EventId = 7201, Level = LogLevel.Information, Message = "stopping: leadership handed to {Successor}, which started an election")]
    private partial void LogHandedOff(string successor);

    [LoggerMessage(EventId = 7202, Level = LogLevel.Warning, Message = "stopping: {Successor} was asked to take over but had not within {WaitMs} ms; the others elect a leader after their timeout")]
    private partial void LogHandOffPending(string successor, int waitMs);
}
