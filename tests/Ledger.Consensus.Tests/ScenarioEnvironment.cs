using System.Globalization;
using System.Text;
using Ledger.Consensus;

namespace Ledger.Consensus.Tests;

/// <summary>A host for one node in scripted scenarios: durable storage, the applied entries, the node.</summary>
internal sealed class ScenarioHost
{
    private readonly Membership _genesis;

    public ScenarioHost(RaftConfig config, Membership genesis)
    {
        Config = config;
        _genesis = genesis;
        Storage = new MemoryRaftStorage(genesis);
        Node = new RaftNode(config, Storage, new SplitMix64Random(config.NodeId));
    }

    public RaftConfig Config { get; }

    public MemoryRaftStorage Storage { get; private set; }

    public RaftNode Node { get; private set; }

    public bool Crashed { get; set; }

    public List<Entry> Applied { get; } = [];

    /// <summary>Restarts on an empty disk: the log, the hard state and what was applied are gone.</summary>
    public void RestartEmpty()
    {
        Storage = new MemoryRaftStorage(_genesis);
        Applied.Clear();
        Restart();
    }

    public void Restart()
    {
        Node = new RaftNode(Config, Storage, new SplitMix64Random(Config.NodeId + ((ulong)Applied.Count << 20)), (ulong)Applied.Count);
        Crashed = false;
    }
}

/// <summary>
/// Runs the command language of <c>testdata/*.txt</c>. Each command prints what it did and, after it,
/// the status of every node whose status changed.
/// </summary>
internal sealed class ScenarioEnvironment
{
    private const int StabilizeRoundsMax = 200;

    private readonly SortedDictionary<ulong, ScenarioHost> _hosts = [];
    private readonly List<Message> _network = [];
    private readonly Dictionary<ulong, int> _partition = [];
    private readonly StringBuilder _output = new();

    public string Run(string command, IReadOnlyList<string> args)
    {
        _output.Clear();
        Dictionary<ulong, string> before = Snapshot();
        Execute(command, args);
        foreach ((ulong id, ScenarioHost host) in _hosts)
        {
            string now = host.Crashed ? $"n{id}: crashed" : Format.Status(host.Node);
            if (!before.TryGetValue(id, out string? was) || was != now)
            {
                Line(now);
            }
        }

        return _output.ToString();
    }

    private Dictionary<ulong, string> Snapshot()
    {
        var snapshot = new Dictionary<ulong, string>();
        foreach ((ulong id, ScenarioHost host) in _hosts)
        {
            snapshot[id] = host.Crashed ? $"n{id}: crashed" : Format.Status(host.Node);
        }

        return snapshot;
    }

    private void Line(string text) => _output.Append(text).Append('\n');

    private ScenarioHost Host(string id) => _hosts[ulong.Parse(id, CultureInfo.InvariantCulture)];

    private static ulong[] Ids(string list) =>
        [.. list.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(s => ulong.Parse(s, CultureInfo.InvariantCulture))];

    private void Execute(string command, IReadOnlyList<string> args)
    {
        switch (command)
        {
            case "add-nodes": AddNodes(args); break;
            case "campaign": Host(args[0]).Node.Campaign(); break;
            case "tick": Tick(args); break;
            case "propose": Propose(args); break;
            case "propose-change": ProposeChange(args); break;
            case "transfer": Line($"transfer: {Host(args[0]).Node.TransferLeadership(ulong.Parse(args[1], CultureInfo.InvariantCulture))}"); break;
            case "read-index": Line($"read-index: {Host(args[0]).Node.ReadIndex(ulong.Parse(args[1], CultureInfo.InvariantCulture))}"); break;
            case "process": ProcessAll(args); break;
            case "deliver": Deliver(args); break;
            case "drop": Drop(args); break;
            case "stabilize": Stabilize(args); break;
            case "partition": Partition(args); break;
            case "heal": _partition.Clear(); break;
            case "crash": Crash(Host(args[0])); break;
            case "process-crash": ProcessThenCrash(Host(args[0]), args.Count > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 0); break;
            case "restart": Host(args[0]).Restart(); break;
            case "restart-empty": RestartEmpty(Host(args[0]), held: args.Count > 1 && args[1] == "held"); break;
            case "observe": Observe(args); break;
            case "status": Status(args); break;
            case "log": Log(Host(args[0])); break;
            default: throw new InvalidOperationException($"unknown command {command}");
        }
    }

    private void AddNodes(IReadOnlyList<string> args)
    {
        int count = int.Parse(args[0], CultureInfo.InvariantCulture);
        var options = args.Skip(1).Select(a => a.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        ulong first = _hosts.Count == 0 ? 1 : _hosts.Keys.Max() + 1;
        ulong[] added = [.. Enumerable.Range(0, count).Select(i => first + (ulong)i)];
        ulong[] voters = options.TryGetValue("voters", out string? v) ? Ids(v) : added;
        ulong[] learners = options.TryGetValue("learners", out string? l) ? Ids(l) : [];
        var genesis = new Membership(voters, learners);
        foreach (ulong id in added)
        {
            var config = new RaftConfig
            {
                NodeId = id,
                PreVote = Option(options, "prevote", false),
                CheckQuorum = Option(options, "checkquorum", false),
                ElectionTimeoutTicks = (int)Option(options, "election", 10UL),
                HeartbeatTicks = (int)Option(options, "heartbeat", 1UL),
                MaxInflightMessages = (int)Option(options, "inflight", 256UL),
                MaxEntriesPerMessage = (int)Option(options, "max-entries", 1024UL),
            };
            _hosts[id] = new ScenarioHost(config, genesis);
        }
    }

    private static bool Option(Dictionary<string, string> options, string name, bool fallback) =>
        options.TryGetValue(name, out string? value) ? bool.Parse(value) : fallback;

    private static ulong Option(Dictionary<string, string> options, string name, ulong fallback) =>
        options.TryGetValue(name, out string? value) ? ulong.Parse(value, CultureInfo.InvariantCulture) : fallback;

    private void Tick(IReadOnlyList<string> args)
    {
        int count = args.Count > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 1;
        IEnumerable<ScenarioHost> hosts = args[0] == "all" ? _hosts.Values : [Host(args[0])];
        for (int i = 0; i < count; i++)
        {
            foreach (ScenarioHost host in hosts.Where(h => !h.Crashed))
            {
                host.Node.Tick();
            }
        }
    }

    private void Propose(IReadOnlyList<string> args)
    {
        ReadOnlyMemory<byte>[] batch = [.. args.Skip(1).Select(a => (ReadOnlyMemory<byte>)Encoding.ASCII.GetBytes(a))];
        ProposeResult result = Host(args[0]).Node.ProposeBatch(batch);
        Line($"propose: {result.Status} index={result.Index} term={result.Term} leader={result.LeaderHint}");
    }

    private void ProposeChange(IReadOnlyList<string> args)
    {
        MembershipChangeKind kind = args[1] switch
        {
            "add-voter" => MembershipChangeKind.AddVoter,
            "add-learner" => MembershipChangeKind.AddLearner,
            "remove" => MembershipChangeKind.Remove,
            _ => throw new InvalidOperationException($"unknown change {args[1]}"),
        };
        ProposeResult result = Host(args[0]).Node.ProposeMembershipChange(new MembershipChange(kind, ulong.Parse(args[2], CultureInfo.InvariantCulture)));
        Line($"propose-change: {result.Status} index={result.Index}{(result.Reason is null ? string.Empty : " (" + result.Reason + ")")}");
    }

    private void ProcessAll(IReadOnlyList<string> args)
    {
        IEnumerable<ScenarioHost> hosts = args.Count == 0 ? _hosts.Values : Ids(args[0]).Select(id => _hosts[id]);
        foreach (ScenarioHost host in hosts.Where(h => !h.Crashed))
        {
            Process(host);
        }
    }

    private bool Process(ScenarioHost host)
    {
        if (!host.Node.HasReady())
        {
            return false;
        }

        Ready ready = host.Node.Ready();
        string id = $"n{host.Node.Id}";
        if (!ready.Entries.IsEmpty)
        {
            Line($"{id} persist {Format.Entries(ready.Entries.Span)}");
        }

        if (ready.HardState is { } hs)
        {
            Line($"{id} persist hardstate term={hs.Term} vote={hs.Vote} commit={hs.Commit}");
        }

        foreach (Message m in ready.Messages)
        {
            Line($"{id} send {Format.Message(m)}");
            _network.Add(m);
        }

        host.Storage.Append(ready.Entries.Span);
        if (ready.HardState is { } hardState)
        {
            host.Storage.SetHardState(hardState);
        }

        foreach (Message m in ready.MessagesAfterPersist)
        {
            Line($"{id} send {Format.Message(m)}");
            _network.Add(m);
        }

        Apply(host, ready);
        host.Node.Advance();
        return true;
    }

    private void Apply(ScenarioHost host, Ready ready)
    {
        foreach (Entry entry in ready.CommittedEntries.Span)
        {
            Line($"n{host.Node.Id} apply {Format.Entry(entry)}");
            host.Applied.Add(entry);
        }

        foreach (ReadState read in ready.ReadStates)
        {
            Line($"n{host.Node.Id} read-state index={read.Index} ctx={read.RequestContext}");
        }
    }

    private void ProcessThenCrash(ScenarioHost host, int entriesKept)
    {
        Ready ready = host.Node.Ready();
        foreach (Message m in ready.Messages)
        {
            Line($"n{host.Node.Id} send {Format.Message(m)}");
            _network.Add(m);
        }

        ReadOnlySpan<Entry> kept = ready.Entries.Span[..Math.Min(entriesKept, ready.Entries.Length)];
        host.Storage.Append(kept);
        Line($"n{host.Node.Id} persisted {kept.Length} of {ready.Entries.Length} entries, then crashed");
        host.Crashed = true;
    }

    private void Crash(ScenarioHost host)
    {
        host.Crashed = true;
        _network.RemoveAll(m => m.To == host.Node.Id);
    }

    private bool Connected(ulong a, ulong b) => _partition.GetValueOrDefault(a) == _partition.GetValueOrDefault(b);

    private void Deliver(IReadOnlyList<string> args)
    {
        ulong[]? only = args.Count > 0 ? Ids(args[0]) : null;
        var batch = _network.Where(m => only is null || only.Contains(m.To)).ToList();
        _network.RemoveAll(m => only is null || only.Contains(m.To));
        foreach (Message m in batch)
        {
            DeliverOne(m);
        }
    }

    private void DeliverOne(Message m)
    {
        ScenarioHost to = _hosts[m.To];
        if (to.Crashed || !Connected(m.From, m.To))
        {
            Line($"dropped {Format.Message(m)}");
            return;
        }

        to.Node.Step(m);
    }

    private void Drop(IReadOnlyList<string> args)
    {
        var options = args.Select(a => a.Split('=', 2)).ToDictionary(p => p[0], p => ulong.Parse(p[1], CultureInfo.InvariantCulture));
        foreach (Message m in _network.Where(Matches).ToList())
        {
            Line($"dropped {Format.Message(m)}");
        }

        _network.RemoveAll(Matches);

        bool Matches(Message m) =>
            (!options.TryGetValue("from", out ulong from) || m.From == from) && (!options.TryGetValue("to", out ulong to) || m.To == to);
    }

    private void Stabilize(IReadOnlyList<string> args)
    {
        bool quiet = args.Contains("quiet");
        int start = _output.Length;
        for (int round = 0; round < StabilizeRoundsMax; round++)
        {
            bool busy = false;
            foreach (ScenarioHost host in _hosts.Values.Where(h => !h.Crashed))
            {
                busy |= Process(host);
            }

            busy |= _network.Count > 0;
            Deliver([]);
            if (!busy)
            {
                break;
            }
        }

        if (quiet)
        {
            _output.Length = start;
        }
    }

    private void Partition(IReadOnlyList<string> args)
    {
        _partition.Clear();
        for (int group = 0; group < args.Count; group++)
        {
            foreach (ulong id in Ids(args[group]))
            {
                _partition[id] = group + 1;
            }
        }
    }

    /// <summary><c>restart-empty N [held]</c>: N restarts on an empty disk, holding its votes when asked.</summary>
    private static void RestartEmpty(ScenarioHost host, bool held)
    {
        host.RestartEmpty();
        if (held)
        {
            host.Node.HoldVotes();
        }
    }

    /// <summary><c>observe N PEER</c>: N hears PEER's current term and its log's last index and term.</summary>
    private void Observe(IReadOnlyList<string> args)
    {
        RaftNode peer = Host(args[1]).Node;
        Host(args[0]).Node.ObservePeerState(peer.Id, peer.Term, peer.LastIndex, peer.LastTerm);
    }

    private void Status(IReadOnlyList<string> args)
    {
        IEnumerable<ScenarioHost> hosts = args.Count == 0 ? _hosts.Values : args.Select(Host);
        foreach (ScenarioHost host in hosts)
        {
            Line(host.Crashed ? $"n{host.Config.NodeId}: crashed" : Format.Status(host.Node));
        }
    }

    private void Log(ScenarioHost host)
    {
        RaftNode node = host.Node;
        if (node.LastIndex > 0)
        {
            Line($"n{node.Id} log {Format.Entries(node.Log.Slice(1, node.LastIndex + 1, int.MaxValue, ulong.MaxValue).Span)}");
        }
        else
        {
            Line($"n{node.Id} log []");
        }

        Line($"n{node.Id} durable {host.Storage.LastIndex} applied {Format.Entries([.. host.Applied])}");
    }
}
