namespace Ledger.TestKit;

/// <summary>Finds the repository and the shared reference material from a test binary's folder.</summary>
public static class RepositoryPaths
{
    /// <summary>The folder holding Ledger.sln.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>The shared reference vectors, beside the repository (../shared/testdata).</summary>
    public static string SharedTestData
    {
        get
        {
            var path = Path.GetFullPath(Path.Combine(Root, "..", "shared", "testdata"));
            return Directory.Exists(path)
                ? path
                : throw new DirectoryNotFoundException($"the shared test vectors are missing: expected them at {path}");
        }
    }

    /// <summary>The build configuration of the running test binary (Debug or Release).</summary>
    public static string Configuration =>
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
            ? "Release"
            : "Debug";

    /// <summary>The built program of a project, e.g. ("client-sdk/Ledger.Cli", "ledger").</summary>
    public static string ProgramDll(string projectDirectory, string assemblyName)
    {
        var path = Path.Combine(Root, projectDirectory, "bin", Configuration, "net10.0", assemblyName + ".dll");
        return File.Exists(path)
            ? path
            : throw new FileNotFoundException($"build {projectDirectory} ({Configuration}) first: {path} is missing");
    }

    private static string FindRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Ledger.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new DirectoryNotFoundException("Ledger.sln not found above " + AppContext.BaseDirectory);
    }
}
