using System.CommandLine;
using System.Security.Cryptography;
using Grpc.Core;
using Ledger.Sdk;
using Ledger.Sdk.Client;

namespace Ledger.Cli.Commands;

/// <summary>
/// <c>ledger prove (--digest HEX | --file PATH) --node URL [--out FILE] [--issuer NAME]</c>: fetches
/// the receipt of an anchored credential; prints it, or writes it to FILE. <c>--digest</c> and
/// <c>--file</c> may be repeated: then <c>--out</c> names a folder that receives
/// <c>&lt;digest hex&gt;.tlog-proof</c> per credential. Exit 0 all found, 1 one or more not
/// anchored (or node unreachable), 2 usage.
/// </summary>
internal static class ProveCommand
{
    private const int ReceiptsInFlightMax = 8;

    public static Command Create()
    {
        var digests = new Option<string[]>("--digest") { Description = "The credential's SHA-256 digest (64 hex digits); may be repeated" };
        var files = new Option<string[]>("--file") { Description = "The credential file; may be repeated" };
        var node = new Option<string>("--node") { Description = "Node address(es), comma-separated", Required = true };
        var output = new Option<string?>("--out") { Description = "Write the receipt to this file (a folder when several credentials are given)" };
        var issuer = new Option<string?>("--issuer") { Description = "Only a leaf anchored by this issuer" };
        var command = new Command("prove", "Fetch the receipt of an anchored credential.") { digests, files, node, output, issuer };
        command.Validators.Add(result =>
        {
            var count = (result.GetValue(digests)?.Length ?? 0) + (result.GetValue(files)?.Length ?? 0);
            if (count == 0)
            {
                result.AddError("give --digest HEX or --file PATH");
            }
            else if (count > 1 && result.GetValue(output) is null)
            {
                result.AddError("with several credentials, --out must name a folder for the receipts");
            }
        });
        command.SetAction((parseResult, cancellationToken) => RunAsync(
            CollectDigests(parseResult.GetValue(digests) ?? [], parseResult.GetValue(files) ?? []),
            parseResult.GetValue(node)!,
            parseResult.GetValue(output),
            parseResult.GetValue(issuer),
            cancellationToken));
        return command;
    }

    private static byte[][] CollectDigests(string[] digestHexes, string[] files) =>
        digestHexes.Select(CommandLineRunner.ParseDigest)
            .Concat(files.Select(file => SHA256.HashData(CommandLineRunner.ReadInput(file, "credential file", int.MaxValue))))
            .ToArray();

    private static async Task<int> RunAsync(byte[][] digests, string nodes, string? output, string? issuer, CancellationToken cancellationToken)
    {
        // Read your writes: a receipt anchored a moment ago through another member is found here too.
        using var client = new LedgerClient(CliSupport.ParseNodes(nodes), LedgerClientOptions.Default with { LinearizableReads = true });
        var single = digests.Length == 1;
        if (!single)
        {
            Directory.CreateDirectory(output!);
        }

        var missing = 0;
        try
        {
            var options = new ParallelOptions { MaxDegreeOfParallelism = ReceiptsInFlightMax, CancellationToken = cancellationToken };
            await Parallel.ForEachAsync(digests, options, async (digest, token) =>
            {
                var receipt = await client.GetReceiptAsync(digest, issuer, token);
                if (receipt is null)
                {
                    Interlocked.Increment(ref missing);
                    await Console.Error.WriteLineAsync($"ledger: {Convert.ToHexStringLower(digest)} is not anchored");
                    return;
                }

                await WriteAsync(receipt, digest, single, output, token);
            });
        }
        catch (RpcException exception)
        {
            Console.Error.WriteLine($"ledger: {exception.StatusCode}: {exception.Status.Detail}");
            return ExitCodes.Failed;
        }

        return missing == 0 ? ExitCodes.Ok : ExitCodes.Failed;
    }

    private static async Task WriteAsync(string receipt, byte[] digest, bool single, string? output, CancellationToken cancellationToken)
    {
        if (single && output is null)
        {
            Console.Write(receipt);
            return;
        }

        var path = single ? output! : Path.Combine(output!, Convert.ToHexStringLower(digest) + Receipt.FileExtension);
        await File.WriteAllTextAsync(path, receipt, cancellationToken);
    }
}
