using System.Security.Cryptography;
using System.Text;
using Ledger.Sdk;
using Ledger.Sdk.Client;
using Ledger.Sdk.Protos.V1;
using Ledger.TestKit;
using Xunit.Sdk;

namespace Ledger.Cluster.Tests.Support;

/// <summary>
/// A consortium of real <c>ledger-node</c> processes on 127.0.0.1: member and issuer keys, a consortium
/// file (quorum = majority), one data folder and one port (chosen at run time) per member. Members can
/// be killed (SIGKILL), paused (SIGSTOP), resumed and restarted on the same folder and port. Disposal
/// kills every process it started.
/// </summary>
internal sealed class LedgerCluster : IAsyncDisposable
{
    /// <summary>How long a member may take to serve after its process starts.</summary>
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    /// <summary>How long the members may take to agree on a leader.</summary>
    public static readonly TimeSpan LeaderTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Clients that wait for commits: a deadline per call, failover across their addresses. A stopped
    /// (SIGSTOP) member holds a call until its deadline, so the deadline is short and the tries many.
    /// </summary>
    public static readonly LedgerClientOptions ClientOptions = new(TimeSpan.FromSeconds(5), 8, TimeSpan.FromMilliseconds(100));

    /// <summary>Clients that only look: one short try.</summary>
    public static readonly LedgerClientOptions ProbeOptions = new(TimeSpan.FromSeconds(2), 1, TimeSpan.FromMilliseconds(50));

    /// <summary>Environment variable naming a folder where every process's output is kept after the test.</summary>
    public const string LogFolderVariable = "LEDGER_CLUSTER_LOG_DIR";

    private const int LogLinesPerProcess = 60;

    private readonly TempDirectory _directory;
    private readonly string[] _memberKeyPaths;
    private readonly int[] _ports;
    private readonly LedgerProcess?[] _nodes;
    private readonly List<LedgerProcess> _allProcesses = [];
    private readonly int[] _starts;
    private readonly LedgerClient[] _clients;
    private readonly LedgerClient[] _probes;
    private readonly List<LedgerClient> _extraClients = [];

    private LedgerCluster(int memberCount, int issuerCount)
    {
        _directory = new TempDirectory("ledger-cluster");
        _ports = LoopbackPorts.Free(memberCount);
        var memberKeys = Enumerable.Range(0, memberCount).Select(i => SignerKey.Generate(MemberName(i))).ToArray();
        Issuers = [.. Enumerable.Range(1, issuerCount).Select(i => SignerKey.Generate($"issuer-{i}"))];
        Directory.CreateDirectory(KeysPath);
        _memberKeyPaths = new string[memberCount];
        for (var i = 0; i < memberCount; i++)
        {
            _memberKeyPaths[i] = Path.Combine(KeysPath, memberKeys[i].Name + ".key");
            memberKeys[i].Save(_memberKeyPaths[i]);
        }

        foreach (var issuer in Issuers)
        {
            issuer.Save(Path.Combine(KeysPath, issuer.Name + ".key"));
        }

        Addresses = [.. _ports.Select(port => new Uri($"http://127.0.0.1:{port}"))];
        Consortium = new Consortium(
            "test.ledger/cluster-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)),
            Consortium.MajorityOf(memberCount),
            [.. memberKeys.Select((key, i) => new ConsortiumMember(key.Name, key.Verifier, Addresses[i].ToString().TrimEnd('/')))],
            [.. Issuers.Select(issuer => new ConsortiumIssuer(issuer.Name, issuer.Verifier, "Test issuer " + issuer.Name))]);
        ConsortiumPath = _directory.File("consortium.json");
        File.WriteAllText(ConsortiumPath, Consortium.ToJson());
        MemberIds = [.. memberKeys.Select(key => key.Name)];
        _nodes = new LedgerProcess?[memberCount];
        _starts = new int[memberCount];
        _clients = [.. Addresses.Select(address => new LedgerClient([address], ClientOptions))];
        _probes = [.. Addresses.Select(address => new LedgerClient([address], ProbeOptions))];
        All = new LedgerClient(Addresses, ClientOptions);
    }

    public Consortium Consortium { get; }

    public string ConsortiumPath { get; }

    public IReadOnlyList<SignerKey> Issuers { get; }

    public IReadOnlyList<string> MemberIds { get; }

    public IReadOnlyList<Uri> Addresses { get; }

    public int Count => MemberIds.Count;

    public int Quorum => Consortium.Quorum;

    /// <summary>A client over every member's address (it fails over between them).</summary>
    public LedgerClient All { get; }

    /// <summary>The test's folder (keys, consortium file, data folders).</summary>
    public string DirectoryPath => _directory.Path;

    private string KeysPath => _directory.File("keys");

    public static string MemberName(int index) => "member-" + (char)('a' + index);

    /// <summary>Writes the keys and the consortium file and starts no member (<see cref="RestartAsync"/> starts one).</summary>
    public static LedgerCluster Prepare(int memberCount, int issuerCount) => new(memberCount, issuerCount);

    /// <summary>Writes the keys and the consortium file, starts every member and waits for a leader.</summary>
    public static async Task<LedgerCluster> StartAsync(int memberCount, int issuerCount, CancellationToken cancellationToken)
    {
        var cluster = new LedgerCluster(memberCount, issuerCount);
        try
        {
            for (var i = 0; i < memberCount; i++)
            {
                cluster.StartProcess(i);
            }

            await Task.WhenAll(Enumerable.Range(0, memberCount).Select(i => cluster.WaitForServingAsync(i, cancellationToken)));
            await cluster.WaitForLeaderAsync(Enumerable.Range(0, memberCount), LeaderTimeout, cancellationToken);
            await cluster.WaitForVotesReleasedAsync(Enumerable.Range(0, memberCount), LeaderTimeout, cancellationToken);
            return cluster;
        }
        catch (Exception exception) when (exception is not XunitException)
        {
            var logs = cluster.DescribeLogs();
            await cluster.DisposeAsync();
            throw new XunitException($"the cluster of {memberCount} did not start: {exception.Message}\n{logs}", exception);
        }
    }

    /// <summary>The client of member <paramref name="index"/> alone.</summary>
    public LedgerClient Client(int index) => _clients[index];

    /// <summary>A one-try, short-deadline client of member <paramref name="index"/>, for polling.</summary>
    public LedgerClient Probe(int index) => _probes[index];

    /// <summary>A client over some members' addresses (disposed with the cluster).</summary>
    public LedgerClient ClientOver(IEnumerable<int> indices, LedgerClientOptions? options = null)
    {
        var client = new LedgerClient([.. indices.Select(i => Addresses[i])], options ?? ClientOptions);
        _extraClients.Add(client);
        return client;
    }

    public LedgerProcess Node(int index) => _nodes[index] ?? throw new InvalidOperationException($"{MemberIds[index]} was never started");

    public int IndexOf(string memberId)
    {
        for (var i = 0; i < MemberIds.Count; i++)
        {
            if (MemberIds[i] == memberId)
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>SIGKILL (kill -9) of member <paramref name="index"/>.</summary>
    public void Kill(int index) => Node(index).Kill();

    /// <summary>SIGSTOP of member <paramref name="index"/>.</summary>
    public Task PauseAsync(int index, CancellationToken cancellationToken) => Node(index).PauseAsync(cancellationToken);

    /// <summary>SIGCONT of member <paramref name="index"/>.</summary>
    public Task ResumeAsync(int index, CancellationToken cancellationToken) => Node(index).ResumeAsync(cancellationToken);

    /// <summary>Starts member <paramref name="index"/> again (killing it first if needed) on the same data folder and port, and waits until it serves.</summary>
    public async Task RestartAsync(int index, CancellationToken cancellationToken, params string[] extraArguments)
    {
        StartAgain(index, extraArguments);
        await WaitForServingAsync(index, cancellationToken);
    }

    /// <summary>Starts member <paramref name="index"/> again (killing it first if needed) without waiting: it may stop on its own.</summary>
    public LedgerProcess StartAgain(int index, params string[] extraArguments)
    {
        _nodes[index]?.Kill();
        StartProcess(index, extraArguments);
        return Node(index);
    }

    /// <summary>Deletes the data folder of member <paramref name="index"/>, which must have been killed: its disk is lost.</summary>
    public void WipeData(int index)
    {
        if (!Node(index).HasExited)
        {
            throw new InvalidOperationException($"{MemberIds[index]} is running; kill it before wiping its data");
        }

        Directory.Delete(DataDir(index), recursive: true);
    }

    /// <summary>
    /// Starts another <c>ledger-node</c> (not a member of this cluster: an outsider with files of its own);
    /// its output joins the logs and it is killed with the cluster.
    /// </summary>
    public LedgerProcess StartOutsider(string label, IEnumerable<string> args)
    {
        var node = LedgerProcess.Start(NodeDll, args, _directory.Path, label);
        lock (_allProcesses)
        {
            _allProcesses.Add(node);
        }

        return node;
    }

    /// <summary>The member's status, or null when it does not answer within the probe deadline.</summary>
    public async Task<GetStatusResponse?> TryStatusAsync(int index, CancellationToken cancellationToken)
    {
        try
        {
            return await _probes[index].GetStatusAsync(cancellationToken);
        }
        catch (Grpc.Core.RpcException)
        {
            return null;
        }
    }

    /// <summary>
    /// Waits until every member in <paramref name="among"/> names the same leader, that leader is one of
    /// them, and it calls itself leader; returns its index. <paramref name="notLeader"/> excludes a member.
    /// </summary>
    public async Task<int> WaitForLeaderAsync(IEnumerable<int> among, TimeSpan timeout, CancellationToken cancellationToken, string? notLeader = null)
    {
        var members = among.ToArray();
        var leader = -1;
        await Wait.UntilAsync($"a leader among {string.Join(", ", members.Select(i => MemberIds[i]))}", timeout, async token =>
        {
            var statuses = await Task.WhenAll(members.Select(i => TryStatusAsync(i, token)));
            var state = string.Join("; ", members.Zip(statuses, (i, s) => $"{MemberIds[i]}: {Describe(s)}"));
            var named = statuses.Select(s => s?.Leader ?? "").Distinct(StringComparer.Ordinal).ToArray();
            if (named.Length != 1 || named[0].Length == 0 || named[0] == notLeader)
            {
                return (false, state);
            }

            var index = IndexOf(named[0]);
            var position = Array.IndexOf(members, index);
            if (position < 0)
            {
                return (false, state);
            }

            var self = statuses[position]!.Members.FirstOrDefault(m => m.Id == named[0]);
            leader = index;
            return (self?.Role == "leader", state);
        }, cancellationToken);
        return leader;
    }

    /// <summary>
    /// Waits until no member in <paramref name="among"/> holds its votes any more. A new Raft log holds
    /// them until the member has heard from every other member (docs/consortium.md, "Replaced member");
    /// until every member has, losing one can stop the consortium.
    /// </summary>
    public Task WaitForVotesReleasedAsync(IEnumerable<int> among, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var members = among.ToArray();
        return Wait.UntilAsync($"votes released by {string.Join(", ", members.Select(i => MemberIds[i]))}", timeout, async token =>
        {
            var statuses = await Task.WhenAll(members.Select(i => TryStatusAsync(i, token)));
            var released = members.Zip(statuses, (i, s) => s?.Members.FirstOrDefault(m => m.Id == MemberIds[i]) is { VotesHeld: false }).All(r => r);
            return (released, string.Join("; ", members.Zip(statuses, (i, s) => $"{MemberIds[i]}: {Describe(s)}")));
        }, cancellationToken);
    }

    /// <summary>One line describing a status answer.</summary>
    public static string Describe(GetStatusResponse? status)
    {
        if (status is null)
        {
            return "no answer";
        }

        var members = string.Join(", ", status.Members.Select(m => $"{m.Id}={m.Role}{(m.VotesHeld ? "(votes held)" : "")}/t{m.Term}/c{m.CommitIndex}/a{m.AppliedIndex}"));
        return $"leader '{status.Leader}', tree {status.TreeSize} [{members}]";
    }

    /// <summary>What each member answers to GetStatus now (one short try each), one line per member.</summary>
    public async Task<string> DescribeStatusesAsync()
    {
        var statuses = await Task.WhenAll(Enumerable.Range(0, Count).Select(i => TryStatusAsync(i, CancellationToken.None)));
        return string.Concat(statuses.Select((status, i) => $"  {MemberIds[i]}: {Describe(status)}\n"));
    }

    /// <summary>The tail of every process's output (earlier runs of restarted members included).</summary>
    public string DescribeLogs()
    {
        var text = new StringBuilder();
        List<LedgerProcess> processes;
        lock (_allProcesses)
        {
            processes = [.. _allProcesses];
        }

        foreach (var node in processes)
        {
            var state = node.HasExited ? "exited" : node.IsPaused ? "paused" : "running";
            text.Append("--- ").Append(node.Label).Append(" (").Append(state).Append("), last ").Append(LogLinesPerProcess).Append(" lines:\n");
            foreach (var line in node.Tail(LogLinesPerProcess))
            {
                text.Append("  ").Append(line).Append('\n');
            }
        }

        return text.ToString();
    }

    /// <summary>
    /// Runs a test body with an overall deadline; any failure is rethrown with the members' output
    /// attached.
    /// </summary>
    public async Task RunAsync(TimeSpan timeout, Func<CancellationToken, Task> body)
    {
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await body(deadline.Token);
        }
        catch (Exception exception)
        {
            var reason = deadline.IsCancellationRequested ? $"(the test's deadline of {timeout.TotalSeconds:0} s passed) " : "";
            var statuses = await DescribeStatusesAsync();
            throw new XunitException($"{reason}{exception.GetType().Name}: {exception.Message}\n\nmember status at the failure:\n{statuses}\nmember output:\n{DescribeLogs()}", exception);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients.Concat(_probes).Concat(_extraClients).Append(All))
        {
            client.Dispose();
        }

        List<LedgerProcess> processes;
        lock (_allProcesses)
        {
            processes = [.. _allProcesses];
        }

        foreach (var node in processes)
        {
            node.Dispose();
        }

        await KeepLogsAsync(processes);
        _directory.Dispose();
    }

    /// <summary>With <c>LEDGER_CLUSTER_LOG_DIR</c> set, writes each process's captured output there (one file per process).</summary>
    private async Task KeepLogsAsync(List<LedgerProcess> processes)
    {
        var folder = Environment.GetEnvironmentVariable(LogFolderVariable);
        if (string.IsNullOrEmpty(folder))
        {
            return;
        }

        Directory.CreateDirectory(folder);
        var prefix = Consortium.Origin.Replace('/', '_');
        foreach (var node in processes)
        {
            var name = new string([.. node.Label.Select(c => char.IsLetterOrDigit(c) || c == '-' ? c : '_')]);
            await File.WriteAllTextAsync(Path.Combine(folder, $"{prefix}-{name}.log"), node.Output);
        }
    }

    /// <summary>The arguments of a member's node process.</summary>
    internal static string[] NodeArguments(string dataDir, string consortiumPath, string memberKeyPath, int port) =>
        ["--data-dir", dataDir, "--consortium", consortiumPath, "--member-key", memberKeyPath, "--listen", $"http://127.0.0.1:{port}"];

    internal static string NodeDll => RepositoryPaths.ProgramDll("node/Ledger.Node", "ledger-node");

    private void StartProcess(int index, string[]? extraArguments = null)
    {
        var dataDir = DataDir(index);
        Directory.CreateDirectory(dataDir);
        _starts[index]++;
        var node = LedgerProcess.Start(
            NodeDll,
            [.. NodeArguments(dataDir, ConsortiumPath, _memberKeyPaths[index], _ports[index]), .. extraArguments ?? []],
            _directory.Path,
            $"{MemberIds[index]} (start {_starts[index]})");
        lock (_allProcesses)
        {
            _allProcesses.Add(node);
        }

        _nodes[index] = node;
    }

    /// <summary>The data directory of member <paramref name="index"/>.</summary>
    public string DataDir(int index) => _directory.File("data-" + MemberIds[index]);

    private async Task WaitForServingAsync(int index, CancellationToken cancellationToken)
    {
        var node = Node(index);
        await node.WaitForLineAsync("listening on", StartTimeout, cancellationToken);
        await Wait.UntilAsync($"{MemberIds[index]} answers GetStatus", StartTimeout, async token =>
        {
            if (node.HasExited)
            {
                throw new InvalidOperationException($"{node.Label} exited");
            }

            var status = await TryStatusAsync(index, token);
            return (status is not null, Describe(status));
        }, cancellationToken);
    }
}
