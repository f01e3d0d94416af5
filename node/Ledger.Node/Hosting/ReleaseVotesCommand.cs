using System.CommandLine;
using Ledger.Replication;
using Ledger.Storage;
using RocksDbSharp;

namespace Ledger.Node.Hosting;

/// <summary>
/// <c>ledger-node release-votes [--data-dir DIR]</c>: the operator's override of a held vote. A member
/// whose Raft log was created empty holds its votes until it has heard from every other member
/// (docs/consortium.md, "Replaced member"); a new consortium with a member that never started, or a
/// held member whose answers came from a member lost since, waits for that member. With the node
/// stopped, this deletes the hold's mark so that the next start votes and campaigns at once.
/// Exit 0 released, 1 nothing to release or the store cannot be opened (the node runs), 2 usage.
/// </summary>
internal static class ReleaseVotesCommand
{
    public static Command Create()
    {
        var dataDir = new Option<string>("--data-dir")
        {
            Description = "The stopped member's data directory (default: the node's DataDir setting from appsettings.json or Ledger__DataDir, else ./ledger-data)",
            HelpName = "value",
            DefaultValueFactory = _ => ConfiguredDataDir(),
        };
        var command = new Command(
            "release-votes",
            "With the node stopped: make a member that holds its votes (a new Raft log) vote and campaign at its next start. "
            + "Safe when no member lost its disk (a new consortium); see docs/consortium.md, \"Replaced member\"")
        {
            dataDir,
        };
        command.SetAction(result => Run(result.GetValue(dataDir)!, Console.Out, Console.Error));
        return command;
    }

    /// <summary>The data directory the node itself would use without --data-dir: the same settings files and environment.</summary>
    private static string ConfiguredDataDir()
    {
        var configuration = new ConfigurationBuilder()
            .SetBasePath(Directory.GetCurrentDirectory())
            .AddJsonFile("appsettings.json", optional: true, reloadOnChange: false)
            .AddEnvironmentVariables()
            .Build();
        return configuration[NodeOptions.SectionName + ":" + nameof(NodeOptions.DataDir)] is { Length: > 0 } configured ? configured : new NodeOptions().DataDir;
    }

    public static int Run(string dataDir, TextWriter output, TextWriter error)
    {
        var raftPath = Path.Combine(dataDir, "raft");
        if (!File.Exists(Path.Combine(raftPath, "CURRENT")))
        {
            error.WriteLine($"ledger-node: {raftPath} holds no Raft log: not the data directory of a consortium member (a single-node ledger has no votes); nothing changed");
            return 1;
        }

        RocksDbKeyValueStore store;
        try
        {
            store = RocksDbKeyValueStore.Open(raftPath);
        }
        catch (RocksDbException exception)
        {
            error.WriteLine($"ledger-node: cannot open {raftPath} ({exception.Message}); is ledger-node running on it? Stop it first; nothing changed");
            return 1;
        }
        catch (StorageCorruptException exception)
        {
            error.WriteLine($"ledger-node: {raftPath} is damaged ({exception.Message}); start the node to have it say what it can repair; nothing changed");
            return 1;
        }

        using (store)
        {
            if (!RaftLogStore.HoldsVotes(store))
            {
                error.WriteLine($"ledger-node: the member in {dataDir} does not hold its votes; nothing changed");
                return 1;
            }

            RaftLogStore.DeleteVotesHeldMark(store);
        }

        output.WriteLine($"votes released for the member in {dataDir}: at its next start it votes and campaigns without waiting to hear from every other member");
        return 0;
    }
}
