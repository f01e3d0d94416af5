using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using Ledger.Consensus;

namespace Ledger.Consensus.Tests;

/// <summary>The core stays pure: only System.* assemblies, and none of the ambient-world types.</summary>
public sealed class PurityTests
{
    private static readonly string[] ForbiddenTypes =
    [
        "System.Random", "System.DateTime", "System.DateTimeOffset", "System.Environment", "System.Console",
        "System.Diagnostics.Stopwatch", "System.Diagnostics.Debug", "System.Diagnostics.Trace",
        "System.Threading.Thread", "System.Threading.ThreadPool", "System.Threading.Timer", "System.Threading.Monitor",
        "System.Threading.Tasks.Task", "System.Threading.Tasks.Parallel", "System.IO.File", "System.IO.FileStream",
        "System.IO.Directory", "System.Net.Sockets.Socket", "System.Net.Http.HttpClient", "System.TimeProvider",
    ];

    [Fact]
    public void Core_assembly_references_only_System_assemblies()
    {
        AssemblyName[] references = typeof(RaftNode).Assembly.GetReferencedAssemblies();
        Assert.NotEmpty(references);
        Assert.All(references, reference => Assert.True(
            reference.Name!.StartsWith("System", StringComparison.Ordinal) || reference.Name == "netstandard",
            $"Ledger.Consensus references {reference.Name}"));
    }

    [Fact]
    public void Core_uses_no_clock_threads_randomness_io_or_logging()
    {
        string[] used = ReferencedTypeNames(typeof(RaftNode).Assembly.Location);
        Assert.Contains("System.Collections.Generic.Dictionary`2", used); // the scan sees real references
        foreach (string forbidden in ForbiddenTypes)
        {
            Assert.DoesNotContain(forbidden, used);
        }

        Assert.DoesNotContain(used, name => name.StartsWith("Microsoft.Extensions.Logging", StringComparison.Ordinal));
    }

    [Fact]
    public void The_scan_detects_a_forbidden_type_when_present()
    {
        // This test assembly uses System.Environment and Parallel; the scan must see them.
        string[] used = ReferencedTypeNames(typeof(PurityTests).Assembly.Location);
        Assert.Contains("System.Environment", used);
        Assert.Contains("System.Threading.Tasks.Parallel", used);
    }

    private static string[] ReferencedTypeNames(string path)
    {
        using var stream = File.OpenRead(path);
        using var pe = new PEReader(stream);
        MetadataReader reader = pe.GetMetadataReader();
        var names = new List<string>();
        foreach (TypeReferenceHandle handle in reader.TypeReferences)
        {
            TypeReference type = reader.GetTypeReference(handle);
            string ns = reader.GetString(type.Namespace);
            names.Add(ns.Length == 0 ? reader.GetString(type.Name) : ns + "." + reader.GetString(type.Name));
        }

        return [.. names];
    }
}
