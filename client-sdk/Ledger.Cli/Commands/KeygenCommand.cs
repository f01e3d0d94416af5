using System.CommandLine;
using Ledger.Sdk;

namespace Ledger.Cli.Commands;

/// <summary><c>ledger keygen --name NAME --out FILE</c>: writes a signer key (mode 0600) and prints its verifier key.</summary>
internal static class KeygenCommand
{
    public static Command Create()
    {
        var name = new Option<string>("--name") { Description = "Member or issuer name: 1-63 of a-z 0-9 . _ -", Required = true };
        var output = new Option<string>("--out") { Description = "File to write the private signer key to (created with mode 0600; never overwritten)", Required = true };
        var command = new Command("keygen", "Create an Ed25519 signer key; prints the verifier (public) key to share.") { name, output };
        command.SetAction(parseResult => Run(parseResult.GetValue(name)!, parseResult.GetValue(output)!));
        return command;
    }

    private static int Run(string name, string path)
    {
        if (!Names.IsValid(name))
        {
            throw new CommandException(ExitCodes.Usage, $"name '{name}' is invalid: use 1-{Names.LengthMax} characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit");
        }

        if (File.Exists(path))
        {
            throw new CommandException(ExitCodes.Usage, $"{path} already exists; refusing to overwrite a key");
        }

        var key = SignerKey.Generate(name);
        try
        {
            key.Save(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CommandException(ExitCodes.Usage, $"cannot write {path}: {e.Message}");
        }

        Console.WriteLine(key.Verifier.ToString());
        return ExitCodes.Ok;
    }
}
