using Ledger.Sdk;
using Ledger.Sdk.Client;

namespace Ledger.Chaos.Tool;

/// <summary><c>check</c>: runs the checker against the members, prints the summary (and writes it to <c>--summary</c>); exit 0 when it passed, 1 otherwise.</summary>
internal static class CheckCommand
{
    public static async Task<int> RunAsync(Arguments arguments)
    {
        var consortium = Consortium.Load(arguments.Required("--consortium"));
        var members = LedgerClient.ParseAddresses(arguments.Required("--nodes")).Select(address => new GrpcMemberSource(address)).ToArray();
        try
        {
            var checker = new Checker(members, consortium);
            var report = await checker.RunAsync(
                JsonLines.Read<HistoryRecord>(arguments.Required("--history")),
                JsonLines.Read<CheckpointRecord>(arguments.Optional("--checkpoints")),
                JsonLines.Read<FaultRecord>(arguments.Optional("--faults")),
                TimeSpan.FromSeconds(arguments.Int("--converge-seconds", 120)),
                CancellationToken.None);
            var text = report.ToText();
            Console.Write(text);
            if (arguments.Optional("--summary") is { } summary)
            {
                await File.WriteAllTextAsync(summary, text);
            }

            return report.Passed ? 0 : 1;
        }
        finally
        {
            foreach (var member in members)
            {
                member.Dispose();
            }
        }
    }
}
