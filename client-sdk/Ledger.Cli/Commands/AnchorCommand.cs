using System.CommandLine;
using System.Security.Cryptography;
using Grpc.Core;
using Ledger.Sdk;
using Ledger.Sdk.Client;
using Spectre.Console;

namespace Ledger.Cli.Commands;

/// <summary>
/// <c>ledger anchor (FILE... | --digest HEX ...) --issuer-key FILE --node URL [--receipts DIR]</c>:
/// signs and submits the digests, waits until they are durable, writes one receipt per digest
/// (<c>DIR/&lt;digest hex&gt;.tlog-proof</c>). A FILE that is a directory stands for every file
/// under it. Exit 0 all anchored, 1 rejected or unreachable, 2 usage.
/// </summary>
internal static class AnchorCommand
{
    private const int DigestsPerRequestMax = 1_000;
    private const int RequestsInFlightMax = 4;
    private const int FilesMax = 10_000_000;

    public static Command Create()
    {
        var files = new Argument<string[]>("FILE") { Description = "Credential files or folders to anchor", Arity = ArgumentArity.ZeroOrMore };
        var digests = new Option<string[]>("--digest") { Description = "A SHA-256 digest (64 hex digits) to anchor; may be repeated", AllowMultipleArgumentsPerToken = false };
        var issuerKey = new Option<string>("--issuer-key") { Description = "The issuer's signer key file", Required = true };
        var node = new Option<string>("--node") { Description = "Node address(es), comma-separated", Required = true };
        var receipts = new Option<string>("--receipts") { Description = "Folder for the receipts", DefaultValueFactory = _ => "receipts" };
        var command = new Command("anchor", "Anchor credential digests and write their receipts.") { files, digests, issuerKey, node, receipts };
        command.SetAction((parseResult, cancellationToken) => RunAsync(
            parseResult.GetValue(files) ?? [],
            parseResult.GetValue(digests) ?? [],
            parseResult.GetValue(issuerKey)!,
            parseResult.GetValue(node)!,
            parseResult.GetValue(receipts)!,
            cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(string[] files, string[] digestHexes, string issuerKeyPath, string nodes, string receiptsDir, CancellationToken cancellationToken)
    {
        var key = CliSupport.LoadSignerKey(issuerKeyPath);
        var addresses = CliSupport.ParseNodes(nodes);
        var items = CollectDigests(files, digestHexes);
        if (items.Count == 0)
        {
            throw new CommandException(ExitCodes.Usage, "nothing to anchor: give files, folders or --digest HEX");
        }

        Directory.CreateDirectory(receiptsDir);
        using var client = new LedgerClient(addresses);
        var chunks = items.Chunk(DigestsPerRequestMax).ToArray();
        var totals = new AnchorTotals();
        try
        {
            if (chunks.Length > 1 && AnsiConsole.Profile.Capabilities.Interactive)
            {
                await AnsiConsole.Progress().StartAsync(async context =>
                {
                    var task = context.AddTask("anchoring", maxValue: items.Count);
                    await AnchorChunksAsync(client, key, chunks, receiptsDir, totals, count => task.Increment(count), cancellationToken);
                });
            }
            else
            {
                await AnchorChunksAsync(client, key, chunks, receiptsDir, totals, _ => { }, cancellationToken);
            }
        }
        catch (RpcException exception)
        {
            Console.Error.WriteLine($"ledger: anchoring failed after {totals.Anchored} of {items.Count} digests: {exception.StatusCode}: {exception.Status.Detail}");
            return ExitCodes.Failed;
        }

        Console.WriteLine($"anchored {totals.Anchored} digests ({totals.New} new, {totals.Existing} already anchored by {key.Name}); tree size {totals.TreeSize}; receipts in {Path.GetFullPath(receiptsDir)}");
        return ExitCodes.Ok;
    }

    private static async Task AnchorChunksAsync(
        LedgerClient client,
        SignerKey key,
        (string Label, byte[] Digest)[][] chunks,
        string receiptsDir,
        AnchorTotals totals,
        Action<int> progress,
        CancellationToken cancellationToken)
    {
        var options = new ParallelOptions { MaxDegreeOfParallelism = RequestsInFlightMax, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(chunks, options, async (chunk, token) =>
        {
            var result = await client.AnchorAsync(key, chunk.Select(item => item.Digest).ToArray(), includeReceipts: true, token);
            for (var i = 0; i < chunk.Length; i++)
            {
                var path = Path.Combine(receiptsDir, Convert.ToHexStringLower(chunk[i].Digest) + Receipt.FileExtension);
                await File.WriteAllTextAsync(path, result.Receipts[i], token);
            }

            totals.Add(chunk.Length, result.Existed.Count(existed => existed), result.TreeSize);
            progress(chunk.Length);
        });
    }

    private static List<(string Label, byte[] Digest)> CollectDigests(string[] paths, string[] digestHexes)
    {
        var items = digestHexes.Select(hex => (hex, CommandLineRunner.ParseDigest(hex))).ToList();
        foreach (var path in paths)
        {
            var files = Directory.Exists(path)
                ? Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Take(FilesMax)
                : [path];
            foreach (var file in files)
            {
                items.Add((file, HashFile(file)));
            }
        }

        return items;
    }

    private static byte[] HashFile(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            return SHA256.HashData(stream);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            throw new CommandException(ExitCodes.Usage, $"cannot read {path}: {exception.Message}");
        }
    }

    private sealed class AnchorTotals
    {
        private readonly Lock _lock = new();

        public int Anchored { get; private set; }

        public int Existing { get; private set; }

        public int New => Anchored - Existing;

        public ulong TreeSize { get; private set; }

        public void Add(int anchored, int existing, ulong treeSize)
        {
            lock (_lock)
            {
                Anchored += anchored;
                Existing += existing;
                TreeSize = Math.Max(TreeSize, treeSize);
            }
        }
    }
}
