using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Ledger.Sdk;
using Ledger.TestKit;

namespace Ledger.Chaos.Tests.Support;

/// <summary>
/// A consortium of real <c>ledger-node</c> processes, one per member namespace of a <see cref="ChaosNetwork"/>,
/// listening on the member's namespace address (a port chosen at run time). Keys and the consortium file
/// live in a temporary folder; one member's data folder can be a small tmpfs (for the disk-full fault).
/// Disposal kills every process, unmounts the tmpfs and deletes the network.
/// </summary>
internal sealed class ChaosCluster : IAsyncDisposable
{
    /// <summary>How long a member may take to listen after its process starts.</summary>
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Size of the tmpfs data folder of the member whose disk fills up (the fault fills what is left
    /// with a file, so the size only bounds the data). A member needs about 90 MB at start (RocksDB
    /// preallocates its write-ahead logs); 96 MB was filled by the data alone within a 20-minute
    /// campaign, and 512 MB at the end of a two-hour one (2.0 million leaves, the others' data 408 to
    /// 477 MB), when the member, replaced on an empty disk, rebuilt its Raft log and state at once.
    /// </summary>
    public const string SmallDiskSize = "2g";

    private const int LogLinesShown = 40;

    /// <summary>Lines of output kept per process; older lines are dropped (and counted).</summary>
    private const int OutputLinesMax = 3_000;

    private readonly TempDirectory _directory;
    private readonly LedgerProcess?[] _nodes;
    private readonly List<LedgerProcess> _all = [];
    private readonly string[] _extraArguments;
    private readonly int[] _starts;

    private ChaosCluster(ChaosNetwork network, int memberCount, int issuerCount, int? smallDiskMember)
    {
        Network = network;
        _directory = new TempDirectory(ChaosNetwork.OwnPrefix + "run");
        Port = 20_000 + RandomNumberGenerator.GetInt32(20_000);
        var memberKeys = Enumerable.Range(0, memberCount).Select(i => SignerKey.Generate(MemberName(i))).ToArray();
        var issuers = Enumerable.Range(1, issuerCount).Select(i => SignerKey.Generate($"issuer-{i}")).ToArray();
        Directory.CreateDirectory(Path.Combine(_directory.Path, "keys"));
        foreach (var key in memberKeys.Concat(issuers))
        {
            key.Save(KeyPath(key.Name));
        }

        IssuerKeyPaths = [.. issuers.Select(issuer => KeyPath(issuer.Name))];
        Addresses = [.. Enumerable.Range(0, memberCount).Select(i => $"http://{ChaosNetwork.MemberAddress(i)}:{Port}")];
        Consortium = new Consortium(
            "test.ledger/chaos-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)),
            Consortium.MajorityOf(memberCount),
            [.. memberKeys.Select((key, i) => new ConsortiumMember(key.Name, key.Verifier, Addresses[i]))],
            [.. issuers.Select(issuer => new ConsortiumIssuer(issuer.Name, issuer.Verifier, "Chaos issuer " + issuer.Name))]);
        ConsortiumPath = Path.Combine(_directory.Path, "consortium.json");
        File.WriteAllText(ConsortiumPath, Consortium.ToJson());
        SmallDiskMember = smallDiskMember;
        _nodes = new LedgerProcess?[memberCount];
        _extraArguments = new string[memberCount];
        _starts = new int[memberCount];
    }

    public ChaosNetwork Network { get; }

    public Consortium Consortium { get; }

    public string ConsortiumPath { get; }

    public int Port { get; }

    public IReadOnlyList<string> Addresses { get; }

    public IReadOnlyList<string> IssuerKeyPaths { get; }

    public int Count => Addresses.Count;

    /// <summary>The member whose data folder is a small tmpfs, if any.</summary>
    public int? SmallDiskMember { get; }

    public string DirectoryPath => _directory.Path;

    public static string MemberName(int index) => "member-" + (char)('a' + index);

    public static async Task<ChaosCluster> StartAsync(int memberCount, int issuerCount, int? smallDiskMember, CancellationToken cancellationToken)
    {
        var network = await ChaosNetwork.CreateAsync(memberCount);
        var cluster = new ChaosCluster(network, memberCount, issuerCount, smallDiskMember);
        try
        {
            // The programs run from copies: a build of the repository during the run does not change them under the members.
            await Shell.RunAsync("cp", "-a", Path.GetDirectoryName(NodeDll)!, cluster.ProgramCopy("node"));
            await Shell.RunAsync("cp", "-a", Path.GetDirectoryName(ToolDll)!, cluster.ProgramCopy("tool"));
            for (var i = 0; i < memberCount; i++)
            {
                Directory.CreateDirectory(cluster.DataDir(i));
            }

            if (smallDiskMember is { } small)
            {
                await Shell.RunAsync("mount", "-t", "tmpfs", "-o", "size=" + SmallDiskSize, "tmpfs", cluster.DataDir(small));
            }

            for (var i = 0; i < memberCount; i++)
            {
                cluster.Start(i);
            }

            for (var i = 0; i < memberCount; i++)
            {
                if (!await cluster.WaitListeningAsync(i, cancellationToken))
                {
                    throw new InvalidOperationException($"{MemberName(i)} did not start:\n{cluster.Node(i).TailText(LogLinesShown)}");
                }
            }

            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    public LedgerProcess Node(int index) => _nodes[index] ?? throw new InvalidOperationException($"{MemberName(index)} was never started");

    public string DataDir(int index) => Path.Combine(_directory.Path, "data-" + MemberName(index));

    /// <summary>Starts member <paramref name="index"/> (killing its previous process), with extra node arguments that stay until changed.</summary>
    public void Start(int index, string? extraArguments = null)
    {
        _nodes[index]?.Kill();
        if (extraArguments is not null)
        {
            _extraArguments[index] = extraArguments;
        }

        _starts[index]++;
        string[] arguments =
        [
            "--data-dir", DataDir(index), "--consortium", ConsortiumPath, "--member-key", KeyPath(MemberName(index)),
            "--listen", Addresses[index], "--allow-plaintext", "true",
            .. (_extraArguments[index] ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries),
        ];
        var node = StartInNamespace(Network.Members[index], Path.Combine(ProgramCopy("node"), Path.GetFileName(NodeDll)), arguments, $"{MemberName(index)} (start {_starts[index]})");
        lock (_all)
        {
            _all.Add(node);
        }

        _nodes[index] = node;
    }

    /// <summary>Restarts member <paramref name="index"/> and waits until it listens; false when it exits or never listens.</summary>
    public async Task<bool> RestartAsync(int index, CancellationToken cancellationToken, string? extraArguments = null)
    {
        Start(index, extraArguments);
        return await WaitListeningAsync(index, cancellationToken);
    }

    public Task<bool> WaitListeningAsync(int index, CancellationToken cancellationToken) =>
        Node(index).TryWaitForLineAsync("listening on", StartTimeout, cancellationToken);

    /// <summary>Deletes everything in a killed member's data folder (the folder itself stays: it may be a mount point).</summary>
    public void WipeData(int index)
    {
        if (!Node(index).HasExited)
        {
            throw new InvalidOperationException($"{MemberName(index)} is running; kill it before wiping its data");
        }

        foreach (var entry in new DirectoryInfo(DataDir(index)).EnumerateFileSystemInfos())
        {
            if (entry is DirectoryInfo directory)
            {
                directory.Delete(recursive: true);
            }
            else
            {
                entry.Delete();
            }
        }
    }

    /// <summary>Runs the chaos tool in the client namespace.</summary>
    public LedgerProcess StartTool(string label, params string[] arguments)
    {
        var tool = StartInNamespace(Network.Client, Path.Combine(ProgramCopy("tool"), Path.GetFileName(ToolDll)), arguments, label);
        lock (_all)
        {
            _all.Add(tool);
        }

        return tool;
    }

    /// <summary>The tail of every process's output (earlier runs of restarted members too).</summary>
    public string DescribeLogs()
    {
        var text = new StringBuilder();
        lock (_all)
        {
            foreach (var process in _all)
            {
                var state = process.HasExited ? "exited " + process.ExitCode.ToString(CultureInfo.InvariantCulture) : "running";
                text.Append(CultureInfo.InvariantCulture, $"--- {process.Label} ({state}):\n{process.TailText(LogLinesShown)}\n");
            }
        }

        return text.ToString();
    }

    /// <summary>Writes every process's whole captured output into <paramref name="folder"/>.</summary>
    public void KeepLogs(string folder)
    {
        Directory.CreateDirectory(folder);
        lock (_all)
        {
            for (var i = 0; i < _all.Count; i++)
            {
                var name = new string([.. _all[i].Label.Select(c => char.IsLetterOrDigit(c) || c == '-' ? c : '_')]);
                File.WriteAllText(Path.Combine(folder, $"{i:D3}-{name}.log"), _all[i].Output);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        lock (_all)
        {
            foreach (var process in _all)
            {
                process.Dispose();
            }
        }

        if (SmallDiskMember is { } small)
        {
            await Shell.TryRunAsync("umount", "-l", DataDir(small));
        }

        await Network.DisposeAsync();
        _directory.Dispose();
    }

    /// <summary>Starts <c>ip netns exec NS dotnet dll arguments...</c> in the cluster's folder.</summary>
    private LedgerProcess StartInNamespace(string networkNamespace, string dll, IEnumerable<string> arguments, string label) =>
        LedgerProcess.Start(dll, arguments, _directory.Path, label, OutputLinesMax, ["ip", "netns", "exec", networkNamespace]);

    private string ProgramCopy(string name) => Path.Combine(_directory.Path, "bin-" + name);

    private string KeyPath(string name) => Path.Combine(_directory.Path, "keys", name + ".key");

    private static string NodeDll => RepositoryPaths.ProgramDll("node/Ledger.Node", "ledger-node");

    private static string ToolDll => RepositoryPaths.ProgramDll("tests/Ledger.Chaos.Tool", "Ledger.Chaos.Tool");
}
