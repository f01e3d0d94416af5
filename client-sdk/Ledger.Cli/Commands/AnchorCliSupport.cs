using Ledger.Sdk;
using Ledger.Sdk.Client;

namespace Ledger.Cli.Commands;

/// <summary>Argument helpers shared by the commands that talk to a node.</summary>
internal static class CliSupport
{
    public static SignerKey LoadSignerKey(string path)
    {
        try
        {
            return SignerKey.Load(path);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or FormatException)
        {
            throw new CommandException(ExitCodes.Usage, $"cannot use issuer key {path}: {exception.Message}");
        }
    }

    public static IReadOnlyList<Uri> ParseNodes(string nodes)
    {
        try
        {
            return LedgerClient.ParseAddresses(nodes);
        }
        catch (FormatException exception)
        {
            throw new CommandException(ExitCodes.Usage, "--node: " + exception.Message);
        }
    }
}
