using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Grpc.Net.Client;
using Ledger.Sdk;
using Ledger.Sdk.Client;
using Ledger.Sdk.Protos.V1;
using Ledger.TestKit;
using Xunit.Sdk;

namespace Ledger.Hostile.Tests.Support;

/// <summary>What the ledger looked like at one moment: its tree size and the body (origin, size, root) of its checkpoint.</summary>
internal sealed record LedgerSnapshot(ulong TreeSize, string CheckpointBody);

/// <summary>
/// The ledger under attack: one or more real <c>ledger-node</c> processes on 127.0.0.1 (ports chosen at run
/// time), with member keys, one issuer and a consortium file in a temporary folder. Disposal kills every
/// process it started.
/// </summary>
internal sealed class HostileLedger : IAsyncDisposable
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    /// <summary>A generous bound on how much an attack may grow a node's resident memory.</summary>
    public const long ResidentGrowthMax = 384L * 1024 * 1024;

    /// <summary>Lines of output kept per process; older lines are dropped (and counted).</summary>
    private const int OutputLinesMax = 2_000;

    private static readonly LedgerClientOptions ClientOptions = new(TimeSpan.FromSeconds(10), 3, TimeSpan.FromMilliseconds(200));
    private static readonly LedgerClientOptions ProbeOptions = new(TimeSpan.FromSeconds(2), 1, TimeSpan.FromMilliseconds(50));

    private readonly TempDirectory _directory = new("ledger-hostile");
    private readonly LedgerProcess?[] _nodes;
    private readonly List<LedgerProcess> _processes = [];
    private readonly LedgerClient[] _clients;
    private readonly LedgerClient[] _probes;
    private readonly GrpcChannel[] _channels;
    private readonly string[] _memberKeyPaths;

    private HostileLedger(int memberCount)
    {
        var ports = LoopbackPorts.Free(memberCount);
        MemberKeys = [.. Enumerable.Range(0, memberCount).Select(i => SignerKey.Generate("member-" + (char)('a' + i)))];
        Issuer = SignerKey.Generate("issuer-1");
        Addresses = [.. ports.Select(port => new Uri($"http://127.0.0.1:{port}"))];
        Directory.CreateDirectory(_directory.File("keys"));
        _memberKeyPaths = [.. MemberKeys.Select(key => _directory.File(Path.Combine("keys", key.Name + ".key")))];
        for (var i = 0; i < memberCount; i++)
        {
            MemberKeys[i].Save(_memberKeyPaths[i]);
        }

        Consortium = new Consortium(
            "test.ledger/hostile-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)),
            Consortium.MajorityOf(memberCount),
            [.. MemberKeys.Select((key, i) => new ConsortiumMember(key.Name, key.Verifier, Addresses[i].ToString().TrimEnd('/')))],
            [new ConsortiumIssuer(Issuer.Name, Issuer.Verifier, "Test issuer")]);
        ConsortiumPath = _directory.File("consortium.json");
        File.WriteAllText(ConsortiumPath, Consortium.ToJson());
        _nodes = new LedgerProcess?[memberCount];
        _clients = [.. Addresses.Select(address => new LedgerClient([address], ClientOptions))];
        _probes = [.. Addresses.Select(address => new LedgerClient([address], ProbeOptions))];
        _channels = [.. Addresses.Select(address => GrpcChannel.ForAddress(address, new GrpcChannelOptions { MaxReceiveMessageSize = 16 * 1024 * 1024 }))];
        All = new LedgerClient(Addresses, ClientOptions);
    }

    public IReadOnlyList<SignerKey> MemberKeys { get; }

    public SignerKey Issuer { get; }

    public IReadOnlyList<Uri> Addresses { get; }

    public Consortium Consortium { get; }

    public string ConsortiumPath { get; }

    public string DirectoryPath => _directory.Path;

    public int Count => MemberKeys.Count;

    /// <summary>A client over every member (it fails over between them).</summary>
    public LedgerClient All { get; }

    public static async Task<HostileLedger> StartAsync(int memberCount)
    {
        var ledger = new HostileLedger(memberCount);
        try
        {
            for (var i = 0; i < memberCount; i++)
            {
                ledger.StartMember(i);
            }

            using var deadline = new CancellationTokenSource(StartTimeout);
            await Task.WhenAll(Enumerable.Range(0, memberCount).Select(i => ledger.WaitForStatusAsync(i, deadline.Token)));
            await ledger.WaitForLeaderAsync(Enumerable.Range(0, memberCount), deadline.Token);
            return ledger;
        }
        catch (Exception exception) when (exception is not XunitException)
        {
            var logs = ledger.DescribeLogs();
            await ledger.DisposeAsync();
            throw new XunitException($"the ledger of {memberCount} did not start: {exception.Message}\n{logs}", exception);
        }
    }

    public LedgerProcess Node(int index) => _nodes[index] ?? throw new InvalidOperationException($"member {index} was never started");

    public LedgerClient Client(int index) => _clients[index];

    /// <summary>A gRPC channel to member <paramref name="index"/>, for hand-made calls.</summary>
    public GrpcChannel Channel(int index) => _channels[index];

    public int Port(int index) => Addresses[index].Port;

    /// <summary>Starts another process of <c>ledger-node</c> with files of its own; killed with the ledger.</summary>
    public LedgerProcess StartOutsider(string label, IEnumerable<string> args)
    {
        var node = LedgerProcess.Start(NodeDll, args, _directory.Path, label, OutputLinesMax);
        lock (_processes)
        {
            _processes.Add(node);
        }

        return node;
    }

    public async Task<GetStatusResponse?> TryStatusAsync(int index, CancellationToken cancellationToken)
    {
        try
        {
            return await _probes[index].GetStatusAsync(cancellationToken);
        }
        catch (RpcException)
        {
            return null;
        }
    }

    /// <summary>Waits until the members in <paramref name="among"/> agree on a leader among them; returns its index.</summary>
    public async Task<int> WaitForLeaderAsync(IEnumerable<int> among, CancellationToken cancellationToken)
    {
        var members = among.ToArray();
        var last = "";
        for (var attempt = 0; attempt < 600; attempt++)
        {
            var statuses = await Task.WhenAll(members.Select(i => TryStatusAsync(i, cancellationToken)));
            var named = statuses.Select(s => s?.Leader ?? "").Distinct(StringComparer.Ordinal).ToArray();
            last = string.Join("; ", statuses.Select(s => s is null ? "no answer" : $"leader '{s.Leader}' tree {s.TreeSize}"));
            if (named.Length == 1 && named[0].Length > 0)
            {
                var index = IndexOf(named[0]);
                if (members.Contains(index) && statuses[Array.IndexOf(members, index)]!.Members.Any(m => m.Id == named[0] && m.Role == "leader"))
                {
                    return index;
                }
            }

            await Task.Delay(100, cancellationToken);
        }

        throw new TimeoutException("no leader: " + last);
    }

    public int IndexOf(string memberId)
    {
        for (var i = 0; i < MemberKeys.Count; i++)
        {
            if (MemberKeys[i].Name == memberId)
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>
    /// Tree size and checkpoint body of member <paramref name="index"/>, once its checkpoint covers its whole
    /// tree (checkpoints are signed shortly after the tree grows).
    /// </summary>
    public async Task<LedgerSnapshot> SnapshotAsync(int index, CancellationToken cancellationToken)
    {
        var last = "";
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var status = await _clients[index].GetStatusAsync(cancellationToken);
            var checkpoint = await _clients[index].GetCheckpointAsync(cancellationToken);
            Assert.True(SignedNote.TryParse(checkpoint, 1, out var note, out var error), error);
            Assert.True(Checkpoint.TryParseBody(note!.Body, 1, out var body, out error), error);
            if (status.TreeSize == body!.Size)
            {
                return new LedgerSnapshot(status.TreeSize, note.Body);
            }

            last = $"tree size {status.TreeSize}, checkpoint size {body.Size}";
            await Task.Delay(100, cancellationToken);
        }

        throw new TimeoutException($"{MemberKeys[index].Name}: the checkpoint never covered the tree: {last}");
    }

    /// <summary>
    /// After an attack: the process is alive, answers its status, still anchors a fresh digest (a
    /// legitimate write, which the caller's next snapshot includes) and its resident memory grew less
    /// than <see cref="ResidentGrowthMax"/> over <paramref name="residentBefore"/>.
    /// </summary>
    public async Task AssertStillServingAsync(int index, long residentBefore, CancellationToken cancellationToken)
    {
        var node = Node(index);
        Assert.False(node.HasExited, $"{node.Label} exited:\n{string.Join('\n', node.Tail(40))}");
        var resident = node.ResidentBytes();
        Assert.True(resident - residentBefore < ResidentGrowthMax,
            $"{node.Label} grew from {residentBefore >> 20} MiB to {resident >> 20} MiB resident");
        var before = await _clients[index].GetStatusAsync(cancellationToken);
        var result = await _clients[index].AnchorAsync(Issuer, [RandomNumberGenerator.GetBytes(32)], includeReceipts: false, cancellationToken);
        Assert.False(result.Existed[0]);
        Assert.True(result.TreeSize > before.TreeSize);
    }

    /// <summary>The tail of every process's output.</summary>
    public string DescribeLogs()
    {
        var text = new StringBuilder();
        lock (_processes)
        {
            foreach (var node in _processes)
            {
                text.Append("--- ").Append(node.Label).Append(node.HasExited ? " (exited)" : " (running)").Append('\n');
                foreach (var line in node.Tail(30))
                {
                    text.Append("  ").Append(line.Length > 300 ? line[..300] + " ..." : line).Append('\n');
                }
            }
        }

        return text.ToString();
    }

    /// <summary>Runs a test body with a deadline; a failure is rethrown with the members' output attached.</summary>
    public async Task RunAsync(TimeSpan timeout, Func<CancellationToken, Task> body)
    {
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await body(deadline.Token);
        }
        catch (Exception exception)
        {
            var reason = deadline.IsCancellationRequested ? $"(the deadline of {timeout.TotalSeconds:0} s passed) " : "";
            throw new XunitException($"{reason}{exception.GetType().Name}: {exception.Message}\n\nnode output:\n{DescribeLogs()}", exception);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients.Concat(_probes).Append(All))
        {
            client.Dispose();
        }

        foreach (var channel in _channels)
        {
            channel.Dispose();
        }

        lock (_processes)
        {
            foreach (var node in _processes)
            {
                node.Dispose();
            }
        }

        await Task.Yield();
        _directory.Dispose();
    }

    private static string NodeDll => RepositoryPaths.ProgramDll("node/Ledger.Node", "ledger-node");

    private void StartMember(int index)
    {
        var dataDir = _directory.File("data-" + MemberKeys[index].Name);
        Directory.CreateDirectory(dataDir);
        var node = LedgerProcess.Start(
            NodeDll,
            ["--data-dir", dataDir, "--consortium", ConsortiumPath, "--member-key", _memberKeyPaths[index], "--listen", Addresses[index].ToString().TrimEnd('/')],
            _directory.Path,
            MemberKeys[index].Name,
            OutputLinesMax);
        lock (_processes)
        {
            _processes.Add(node);
        }

        _nodes[index] = node;
    }

    private async Task WaitForStatusAsync(int index, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < 1_000; attempt++)
        {
            if (Node(index).HasExited)
            {
                throw new InvalidOperationException($"{Node(index).Label} exited");
            }

            if (await TryStatusAsync(index, cancellationToken) is not null)
            {
                return;
            }

            await Task.Delay(100, cancellationToken);
        }

        throw new TimeoutException($"{Node(index).Label} never answered GetStatus");
    }
}
