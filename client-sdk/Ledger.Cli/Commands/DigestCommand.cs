using System.CommandLine;
using System.Security.Cryptography;

namespace Ledger.Cli.Commands;

/// <summary><c>ledger digest FILE...</c>: prints <c>&lt;sha256 hex&gt;  &lt;file&gt;</c> per file.</summary>
internal static class DigestCommand
{
    public static Command Create()
    {
        var files = new Argument<string[]>("FILE") { Description = "Files to hash", Arity = ArgumentArity.OneOrMore };
        var command = new Command("digest", "Print the SHA-256 digest of each file, as issuers anchor it.") { files };
        command.SetAction(async (parseResult, cancellationToken) => await RunAsync(parseResult.GetValue(files)!, cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(string[] files, CancellationToken cancellationToken)
    {
        var exitCode = ExitCodes.Ok;
        foreach (var file in files)
        {
            try
            {
                await using var stream = File.OpenRead(file);
                var digest = await SHA256.HashDataAsync(stream, cancellationToken);
                Console.WriteLine($"{Convert.ToHexStringLower(digest)}  {file}");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                await Console.Error.WriteLineAsync($"ledger: cannot read {file}: {e.Message}");
                exitCode = ExitCodes.Usage;
            }
        }

        return exitCode;
    }
}
