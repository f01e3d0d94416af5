using Ledger.TestKit;

namespace Ledger.Node.Tests.Support;

/// <summary>The real programs, in the configuration of this test binary (paths from <see cref="RepositoryPaths"/>).</summary>
internal static class RepoPaths
{
    public static string Root => RepositoryPaths.Root;

    public static string Configuration => RepositoryPaths.Configuration;

    public static string NodeDll => Path.Combine(Root, "node", "Ledger.Node", "bin", Configuration, "net10.0", "ledger-node.dll");

    public static string CliDll => Path.Combine(Root, "client-sdk", "Ledger.Cli", "bin", Configuration, "net10.0", "ledger.dll");
}
