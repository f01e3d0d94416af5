using System.Text.Json;

namespace Ledger.Sdk.Tests.Merkle;

internal sealed record InclusionVector(ulong Index, ulong Size, byte[][] Path);

internal sealed record ConsistencyVector(ulong Size1, ulong Size2, byte[][] Proof);

/// <summary>
/// The reference vectors of <c>shared/testdata/merkle-rfc6962.json</c>, read in place: the file lives
/// next to the repository (<c>../shared/testdata</c> from its root) and is never copied into it.
/// </summary>
internal sealed record MerkleVectors(
    byte[][] LeafInputs,
    byte[][] LeafHashes,
    byte[][] Roots,
    InclusionVector[] Inclusion,
    ConsistencyVector[] Consistency,
    JsonElement HasherChecks)
{
    private const string FileName = "merkle-rfc6962.json";
    private const int ParentFoldersMax = 16;

    private static readonly Lazy<MerkleVectors> Cached = new(Load);

    public static MerkleVectors Instance => Cached.Value;

    public byte[] HasherCheck(string name) => Convert.FromHexString(HasherChecks.GetProperty(name).GetString()!);

    private static MerkleVectors Load()
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(FindFile()));
        var root = document.RootElement;
        return new MerkleVectors(
            HexArray(root.GetProperty("leafInputsHex")),
            HexArray(root.GetProperty("leafHashesHex")),
            HexArray(root.GetProperty("rootsHex")),
            [.. root.GetProperty("inclusion").EnumerateArray().Select(v => new InclusionVector(
                v.GetProperty("index").GetUInt64(), v.GetProperty("size").GetUInt64(), HexArray(v.GetProperty("pathHex"))))],
            [.. root.GetProperty("consistency").EnumerateArray().Select(v => new ConsistencyVector(
                v.GetProperty("size1").GetUInt64(), v.GetProperty("size2").GetUInt64(), HexArray(v.GetProperty("proofHex"))))],
            root.GetProperty("hasherChecks").Clone());
    }

    private static byte[][] HexArray(JsonElement array) =>
        [.. array.EnumerateArray().Select(e => Convert.FromHexString(e.GetString()!))];

    /// <summary>Walks up from the test binary to the folder holding Ledger.sln, then to ../shared/testdata.</summary>
    private static string FindFile()
    {
        var folder = new DirectoryInfo(AppContext.BaseDirectory);
        for (var step = 0; step < ParentFoldersMax && folder is not null; step++, folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "Ledger.sln")))
            {
                var path = Path.GetFullPath(Path.Combine(folder.FullName, "..", "shared", "testdata", FileName));
                if (!File.Exists(path))
                {
                    throw new FileNotFoundException($"reference vectors missing: expected {path} next to the repository", path);
                }

                return path;
            }
        }

        throw new DirectoryNotFoundException($"no Ledger.sln above {AppContext.BaseDirectory}: cannot locate ../shared/testdata/{FileName}");
    }
}
