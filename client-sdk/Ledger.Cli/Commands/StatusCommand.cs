using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Ledger.Sdk.Client;
using Ledger.Sdk.Protos.V1;

namespace Ledger.Cli.Commands;

/// <summary>
/// <c>ledger status --node URL [--json]</c>: the consortium as the node sees it, then what the
/// answering node did since it started (the numbers of its metrics endpoint). Exit 0; 1 unreachable.
/// With <c>--health</c>, only the standard gRPC health service of each node given: exit 0 when all answer SERVING.
/// </summary>
internal static class StatusCommand
{
    private static readonly TimeSpan HealthDeadline = TimeSpan.FromSeconds(5);

    /// <summary><c>grpc.health.v1.Health/Check</c>, called with raw bytes (an empty request asks for the whole server).</summary>
    private static readonly Method<byte[], byte[]> HealthCheck = new(
        MethodType.Unary, "grpc.health.v1.Health", "Check", Marshallers.Create(b => b, b => b), Marshallers.Create(b => b, b => b));

    private static readonly string[] HealthNames = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

    public static Command Create()
    {
        var node = new Option<string>("--node") { Description = "Node address(es), comma-separated", Required = true };
        var json = new Option<bool>("--json") { Description = "Print one JSON object" };
        var health = new Option<bool>("--health")
        {
            Description = "Ask only each node's gRPC health service (grpc.health.v1): prints one line per node; exit 0 when every one is SERVING",
        };
        var command = new Command("status", "Show the members, leader and tree size as a node sees them.") { node, json, health };
        command.SetAction((parseResult, cancellationToken) => parseResult.GetValue(health)
            ? HealthAsync(parseResult.GetValue(node)!, cancellationToken)
            : RunAsync(parseResult.GetValue(node)!, parseResult.GetValue(json), cancellationToken));
        return command;
    }

    private static async Task<int> HealthAsync(string nodes, CancellationToken cancellationToken)
    {
        var exitCode = ExitCodes.Ok;
        foreach (var address in CliSupport.ParseNodes(nodes))
        {
            using var channel = GrpcChannel.ForAddress(address);
            try
            {
                var answer = await channel.CreateCallInvoker().AsyncUnaryCall(
                    HealthCheck, null, new CallOptions(deadline: DateTime.UtcNow + HealthDeadline, cancellationToken: cancellationToken), []);
                var status = ServingStatus(answer);
                Console.WriteLine($"{address} {(status < HealthNames.Length ? HealthNames[status] : status.ToString(CultureInfo.InvariantCulture))}");
                exitCode = status == 1 ? exitCode : ExitCodes.Failed;
            }
            catch (RpcException exception)
            {
                Console.WriteLine($"{address} unreachable: {exception.StatusCode}: {exception.Status.Detail}");
                exitCode = ExitCodes.Failed;
            }
        }

        return exitCode;
    }

    /// <summary>Field 1 (the serving status) of a <c>HealthCheckResponse</c>; 0 (UNKNOWN) when absent or unreadable.</summary>
    private static int ServingStatus(byte[] response)
    {
        try
        {
            var input = new CodedInputStream(response);
            for (var tag = input.ReadTag(); tag != 0; tag = input.ReadTag())
            {
                if (tag == 8)
                {
                    return input.ReadEnum();
                }

                input.SkipLastField();
            }
        }
        catch (InvalidProtocolBufferException)
        {
            // An answer that is not a health response counts as unknown.
        }

        return 0;
    }

    private static async Task<int> RunAsync(string nodes, bool json, CancellationToken cancellationToken)
    {
        using var client = new LedgerClient(CliSupport.ParseNodes(nodes), LedgerClientOptions.Default with { CallTimeout = TimeSpan.FromSeconds(5), AttemptsMax = 2 });
        GetStatusResponse status;
        try
        {
            status = await client.GetStatusAsync(cancellationToken);
        }
        catch (RpcException exception)
        {
            Console.Error.WriteLine($"ledger: node unreachable: {exception.StatusCode}: {exception.Status.Detail}");
            return ExitCodes.Failed;
        }

        Console.WriteLine(json ? ToJson(status) : ToText(status));
        return ExitCodes.Ok;
    }

    private static string ToJson(GetStatusResponse status)
    {
        var members = new JsonArray();
        foreach (var member in status.Members)
        {
            members.Add(new JsonObject
            {
                ["id"] = member.Id,
                ["address"] = member.Address,
                ["role"] = member.Role,
                ["term"] = member.Term,
                ["commitIndex"] = member.CommitIndex,
                ["appliedIndex"] = member.AppliedIndex,
                ["treeSize"] = member.TreeSize,
                ["lag"] = member.Lag,
                ["votesHeld"] = member.VotesHeld,
            });
        }

        var root = new JsonObject
        {
            ["leader"] = status.Leader,
            ["treeSize"] = status.TreeSize,
            ["origin"] = status.Origin,
            ["members"] = members,
        };
        if (status.Activity is { } activity)
        {
            root["activity"] = ActivityJson(status.Member, activity);
        }

        return root.ToJsonString();
    }

    /// <summary>The <c>activity</c> object: the answering node's counters since it started (docker/README.md lists the keys).</summary>
    private static JsonObject ActivityJson(string member, NodeActivity activity)
    {
        var refusals = new JsonObject();
        foreach (var refusal in activity.Refusals)
        {
            refusals[refusal.Reason] = refusal.Count;
        }

        return new JsonObject
        {
            ["member"] = member,
            ["uptimeSeconds"] = activity.UptimeSeconds,
            ["anchors"] = activity.Anchors,
            ["digests"] = activity.Digests,
            ["anchorsPerSecond"] = Math.Round(activity.AnchorsPerSecond, 1),
            ["digestsPerSecond"] = Math.Round(activity.DigestsPerSecond, 1),
            ["refusals"] = refusals,
            ["leaderChanges"] = activity.LeaderChanges,
            ["batches"] = activity.Batches,
            ["batchDigests"] = activity.BatchDigests,
            ["commitP50Ms"] = Math.Round(activity.CommitP50Ms, 3),
            ["commitP99Ms"] = Math.Round(activity.CommitP99Ms, 3),
            ["applyP50Ms"] = Math.Round(activity.ApplyP50Ms, 3),
            ["applyP99Ms"] = Math.Round(activity.ApplyP99Ms, 3),
        };
    }

    private static string ToText(GetStatusResponse status)
    {
        var lines = new List<string>
        {
            $"origin:     {status.Origin}",
            $"node:       {status.Member}",
            $"leader:     {status.Leader}",
            $"tree size:  {status.TreeSize}",
            "members:",
            $"  {"id",-20} {"role",-13} {"term",6} {"commit",10} {"applied",10} {"lag",8} {"tree size",12}  address",
        };
        lines.AddRange(status.Members.Select(member => member.Role == "unreachable"
            ? $"  {member.Id,-20} {member.Role,-13} {"-",6} {"-",10} {"-",10} {"-",8} {"-",12}  {member.Address}"
            : $"  {member.Id,-20} {member.Role,-13} {member.Term,6} {member.CommitIndex,10} {member.AppliedIndex,10} {member.Lag,8} {member.TreeSize,12}  {member.Address}"));
        var held = status.Members.Where(member => member.VotesHeld).Select(member => member.Id).ToList();
        if (held.Count > 0)
        {
            lines.Add($"votes held: {string.Join(", ", held)} (a new Raft log: it votes once it has heard from every member and holds what they hold)");
        }
        if (status.Activity is { } activity)
        {
            lines.Add("");
            lines.AddRange(ActivityText(status.Member, activity));
        }

        return string.Join('\n', lines);
    }

    private static IEnumerable<string> ActivityText(string member, NodeActivity activity)
    {
        var refused = activity.Refusals.Aggregate(0UL, (sum, refusal) => sum + refusal.Count);
        var reasons = string.Join(", ", activity.Refusals.Select(refusal => $"{refusal.Reason} {refusal.Count}"));
        var meanBatch = activity.Batches == 0 ? 0 : (double)activity.BatchDigests / activity.Batches;
        yield return $"{member} since it started {Duration(activity.UptimeSeconds)} ago:";
        yield return $"  anchors:          {activity.Anchors,12}   {Rate(activity.AnchorsPerSecond)}";
        yield return $"  digests:          {activity.Digests,12}   {Rate(activity.DigestsPerSecond)}";
        yield return $"  refused:          {refused,12}" + (refused == 0 ? "" : $"   ({reasons})");
        yield return $"  leader changes:   {activity.LeaderChanges,12}";
        yield return $"  batches proposed: {activity.Batches,12}   " + string.Create(CultureInfo.InvariantCulture, $"{meanBatch:0.#} digests per batch on average");
        yield return "  commit latency:   " + Latency(activity.Batches, activity.CommitP50Ms, activity.CommitP99Ms);
        yield return "  apply latency:    " + Latency(ulong.MaxValue, activity.ApplyP50Ms, activity.ApplyP99Ms);
    }

    private static string Rate(double perSecond) =>
        string.Create(CultureInfo.InvariantCulture, $"{perSecond:0.#}/s over the last 10 s");

    private static string Latency(ulong samples, double p50Ms, double p99Ms) =>
        samples == 0 || (p50Ms == 0 && p99Ms == 0)
            ? "-"
            : string.Create(CultureInfo.InvariantCulture, $"p50 {p50Ms:0.###} ms, p99 {p99Ms:0.###} ms (recent batches)");

    private static string Duration(ulong seconds) =>
        string.Create(CultureInfo.InvariantCulture, $"{seconds / 3600}h{seconds / 60 % 60:00}m{seconds % 60:00}s");
}
