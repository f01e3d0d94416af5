using System.CommandLine;
using Ledger.Cli;
using Ledger.Cli.Commands;

var root = new RootCommand("ledger: anchor credential digests in a Ledger consortium and verify receipts offline.");
root.Subcommands.Add(KeygenCommand.Create());
root.Subcommands.Add(DigestCommand.Create());
root.Subcommands.Add(VerifyCommand.Create());
root.Subcommands.Add(ConsortiumCommand.Create());
root.Subcommands.Add(DevCommand.Create());
root.Subcommands.Add(AnchorCommand.Create());
root.Subcommands.Add(ProveCommand.Create());
root.Subcommands.Add(StatusCommand.Create());
root.Subcommands.Add(BenchCommand.Create());

return await CommandLineRunner.RunAsync(root, args);
