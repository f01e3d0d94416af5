using Ledger.Node.Hosting;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Ledger.Node.Observability;

/// <summary>
/// Health as the gRPC health service (<c>grpc.health.v1.Health</c>) reports it: unhealthy once
/// apply failed or the node is stopping; degraded (still serving reads) while a consortium member
/// knows no leader; healthy otherwise.
/// </summary>
internal sealed class NodeHealthCheck(LedgerNode node) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (node.ApplyFailed.IsCompleted || node.Damage.Found.IsCompleted || node.Stopping.IsCancellationRequested)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("apply failed, stored data is damaged, or the node is stopping"));
        }

        if (node.Replica is { } replica && replica.LeaderName is null)
        {
            return Task.FromResult(HealthCheckResult.Degraded("no leader known: anchors wait for an election; reads are served"));
        }

        return Task.FromResult(HealthCheckResult.Healthy($"tree size {node.State.TreeSize}"));
    }
}
