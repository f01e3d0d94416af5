using System.CommandLine;

namespace Ledger.Cli;

/// <summary>Exit codes of the command-line contract (SPEC §7).</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int Usage = 2;
}

/// <summary>A user error that ends the command with a message and an exit code, without a stack trace.</summary>
internal sealed class CommandException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

internal static class CommandLineRunner
{
    /// <summary>Parses and runs; parse errors exit with 2 (the contract), not the library's default of 1.</summary>
    public static async Task<int> RunAsync(RootCommand root, string[] args)
    {
        var parseResult = root.Parse(args);
        if (parseResult.Errors.Count > 0)
        {
            foreach (var error in parseResult.Errors)
            {
                await Console.Error.WriteLineAsync("ledger: " + error.Message);
            }

            await Console.Error.WriteLineAsync("Run 'ledger --help' (or 'ledger <command> --help') for usage.");
            return ExitCodes.Usage;
        }

        try
        {
            return await parseResult.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (CommandException e)
        {
            await Console.Error.WriteLineAsync("ledger: " + e.Message);
            return e.ExitCode;
        }
    }

    /// <summary>Reads a file for a command, turning I/O errors into a usage exit (2) with the path named.</summary>
    public static byte[] ReadInput(string path, string what, int bytesMax)
    {
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                throw new CommandException(ExitCodes.Usage, $"{what} {path} does not exist");
            }

            if (info.Length > bytesMax)
            {
                throw new CommandException(ExitCodes.Usage, $"{what} {path} is larger than {bytesMax} bytes");
            }

            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CommandException(ExitCodes.Usage, $"cannot read {what} {path}: {e.Message}");
        }
    }

    /// <summary>Parses a 64-digit hex SHA-256 digest.</summary>
    public static byte[] ParseDigest(string hex)
    {
        if (hex.Length != 64 || !hex.All(Uri.IsHexDigit))
        {
            throw new CommandException(ExitCodes.Usage, $"'{hex}' is not a SHA-256 digest: expected 64 hex digits");
        }

        return Convert.FromHexString(hex);
    }
}
