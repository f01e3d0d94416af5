using System.CommandLine;
using System.Text.Json.Nodes;
using Grpc.Core;
using Ledger.Sdk.Client;
using Ledger.Sdk.Protos.V1;

namespace Ledger.Cli.Commands;

/// <summary><c>ledger status --node URL [--json]</c>: the consortium as the node sees it. Exit 0; 1 unreachable.</summary>
internal static class StatusCommand
{
    public static Command Create()
    {
        var node = new Option<string>("--node") { Description = "Node address(es), comma-separated", Required = true };
        var json = new Option<bool>("--json") { Description = "Print one JSON object" };
        var command = new Command("status", "Show the members, leader and tree size as a node sees them.") { node, json };
        command.SetAction((parseResult, cancellationToken) => RunAsync(parseResult.GetValue(node)!, parseResult.GetValue(json), cancellationToken));
        return command;
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
            });
        }

        var root = new JsonObject
        {
            ["leader"] = status.Leader,
            ["treeSize"] = status.TreeSize,
            ["origin"] = status.Origin,
            ["members"] = members,
        };
        return root.ToJsonString();
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
        return string.Join('\n', lines);
    }
}
