using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Ledger.Consensus;

namespace Ledger.Consensus.Tests;

/// <summary>A safety or liveness property the simulation saw broken.</summary>
internal sealed class SimulationViolation(string message) : Exception(message);

/// <summary>Knobs of one simulated run, all derived from its seed.</summary>
internal sealed record SimulationOptions(int Voters, int Learners, int Spares, bool PreVote, bool CheckQuorum, int DropPerMille, int DuplicatePerMille, int MaxDelaySteps, int CrashPerMille, int ReadyCrashPerMille, int PartitionPerMille)
{
    public static SimulationOptions FromSeed(ulong seed)
    {
        var random = new SplitMix64Random(seed ^ 0x5EED5EED5EEDUL);
        return new SimulationOptions(
            Voters: random.NextInt(2) == 0 ? 3 : 5,
            Learners: 1,
            Spares: 1,
            PreVote: random.NextInt(4) != 0,
            CheckQuorum: random.NextInt(4) != 0,
            DropPerMille: random.NextInt(80),
            DuplicatePerMille: random.NextInt(40),
            MaxDelaySteps: 1 + random.NextInt(5),
            CrashPerMille: 1 + random.NextInt(5),
            ReadyCrashPerMille: 1 + random.NextInt(8),
            PartitionPerMille: 1 + random.NextInt(6));
    }
}

/// <summary>One simulated member: durable storage and state machine that survive crashes, and the node.</summary>
internal sealed class SimHost(ulong id, RaftConfig config, MemoryRaftStorage storage)
{
    public ulong Id { get; } = id;

    public RaftConfig Config { get; } = config;

    public MemoryRaftStorage Storage { get; set; } = storage;

    /// <summary>Replacement runs: the node's disk was lost at least once (its earlier acknowledgements may be gone).</summary>
    public bool Wiped { get; set; }

    /// <summary>Replacement runs: the durable mark that the node holds its votes (set by a wipe, cleared once it releases).</summary>
    public bool HoldsVotes { get; set; }

    public RaftNode? Node { get; set; }

    public long RestartAtStep { get; set; } = -1;

    /// <summary>Removed from the membership and shut down by the operator.</summary>
    public bool Stopped { get; set; }

    public ulong AppliedIndex { get; set; }

    public HashSet<ulong> AppliedIds { get; } = [];

    public ulong MaxTermSent { get; set; }

    public ulong LastGrantedTerm { get; set; }

    public ulong LastGrantedCandidate { get; set; }

    public ulong LeaderTerm { get; set; }

    public ulong LeaderLastIndex { get; set; }

    public ulong LeaderLastTerm { get; set; }

    public ulong CheckedCommit { get; set; }

    public ulong LastTerm { get; set; }
}

/// <summary>
/// A deterministic cluster simulation: one seed fixes every choice (faults, delays, proposals), and
/// every step is followed by the safety checks.
/// </summary>
/// <summary>Hosts by id (1-based) in an array: iteration in id order without allocation.</summary>
internal sealed class SimHostTable
{
    private readonly List<SimHost> _hosts = [];

    public int Count => _hosts.Count;

    public SimHost this[ulong id]
    {
        get => _hosts[(int)id - 1];
        set
        {
            if ((int)id - 1 == _hosts.Count)
            {
                _hosts.Add(value);
            }
            else
            {
                _hosts[(int)id - 1] = value;
            }
        }
    }

    public List<SimHost> Values => _hosts;
}

internal sealed partial class SimulationCluster
{
    public const int ElectionTimeoutTicks = 10;
    public const int ConvergenceStepsMax = 600;
    private const int ProposalBatchMax = 3;

    private readonly ulong _seed;
    private readonly SimulationOptions _options;
    private readonly SplitMix64Random _random;
    private readonly SimHostTable _hosts = new();
    private readonly PriorityQueue<Message, (long Step, long Sequence)> _network = new();
    private readonly bool[,] _canSend;
    private readonly StringBuilder? _trace;
    private readonly Dictionary<ulong, ulong> _leaderOfTerm = [];
    private readonly Dictionary<(ulong Index, ulong Term), (ulong Data, ulong PreviousTerm)> _entryIdentity = [];
    private readonly List<ulong> _committedTerms = [0];
    private readonly List<(ulong Term, ulong Data)> _appliedIdentity = [(0, 0)];
    private readonly Dictionary<(ulong Voter, ulong Term), ulong> _votes = [];
    private readonly Dictionary<ulong, (ulong Index, ulong Term)> _proposals = [];
    private readonly HashSet<ulong> _acknowledged = [];
    private readonly Dictionary<ulong, ulong> _pendingReads = [];
    private ulong _nextReadContext = 1;
    private long _step;
    private long _sequence;
    private ulong _nextProposalId = 1;
    private ulong _traceHash = 14695981039346656037UL;
    private bool _faultsOn = true;
    private readonly bool _replacements;
    private readonly bool _holdVotes;
    private readonly Membership _genesis;

    /// <summary>
    /// A run from <paramref name="seed"/>. With <paramref name="replacements"/>, the voters are fixed
    /// (no learners, no membership changes) and a crashed voter sometimes comes back on an empty disk,
    /// as a replaced member does; it holds its votes (RaftNode.HoldVotes) unless <paramref name="holdVotes"/>
    /// is false, which shows what the hold prevents.
    /// </summary>
    public SimulationCluster(ulong seed, bool keepTrace, bool replacements = false, bool holdVotes = true)
    {
        _seed = seed;
        _options = SimulationOptions.FromSeed(seed);
        _replacements = replacements;
        _holdVotes = holdVotes;
        if (replacements)
        {
            _options = _options with { Learners = 0, Spares = 0 };
        }

        _random = new SplitMix64Random(seed);
        _trace = keepTrace ? new StringBuilder() : null;
        int total = _options.Voters + _options.Learners + _options.Spares;
        _canSend = new bool[total + 1, total + 1];
        Heal();
        var genesis = new Membership(
            Enumerable.Range(1, _options.Voters).Select(i => (ulong)i),
            Enumerable.Range(_options.Voters + 1, _options.Learners).Select(i => (ulong)i));
        _genesis = genesis;
        for (ulong id = 1; id <= (ulong)total; id++)
        {
            var config = new RaftConfig
            {
                NodeId = id,
                ElectionTimeoutTicks = ElectionTimeoutTicks,
                HeartbeatTicks = 3,
                PreVote = _options.PreVote,
                CheckQuorum = _options.CheckQuorum,
                MaxInflightMessages = 4,
                MaxInflightBytes = 256,
                MaxEntriesPerMessage = 4,
                MaxMessageBytes = 128,
                MaxEntryBytes = 16,
                MaxUncommittedBytes = 96,
            };
            var host = new SimHost(id, config, new MemoryRaftStorage(genesis));
            host.Node = new RaftNode(config, host.Storage, new SplitMix64Random(seed * 31 + id));
            host.Stopped = id > (ulong)(_options.Voters + _options.Learners);
            _hosts[id] = host;
        }

        Trace($"seed {seed} options {_options}");
    }

    public ulong TraceHash => _traceHash;

    public string TraceText => _trace?.ToString() ?? string.Empty;

    public long StepsRun => _step;

    public int AcknowledgedCount => _acknowledged.Count;

    public int ReadsServed { get; private set; }

    /// <summary>Replacement runs: how many times a member came back on an empty disk.</summary>
    public int Wipes { get; private set; }

    /// <summary>Folds numbers into the trace hash; formats text only when a full trace is kept.</summary>
    private void TraceNumbers(string tag, ulong a, ulong b, ulong c)
    {
        _traceHash = (_traceHash ^ (ulong)tag.Length ^ a << 40 ^ b << 20 ^ c) * 1099511628211UL;
        if (_trace is not null)
        {
            Trace($"{tag} {a} {b} {c}");
        }
    }

    private void Trace(string text)
    {
        foreach (char c in text)
        {
            _traceHash = (_traceHash ^ c) * 1099511628211UL;
        }

        _traceHash = (_traceHash ^ '\n') * 1099511628211UL;
        _trace?.Append(_step.ToString(CultureInfo.InvariantCulture)).Append(' ').Append(text).Append('\n');
    }

    private bool Chance(int perMille) => perMille > 0 && _random.NextInt(1000) < perMille;

    private void Heal()
    {
        for (int a = 0; a < _canSend.GetLength(0); a++)
        {
            for (int b = 0; b < _canSend.GetLength(1); b++)
            {
                _canSend[a, b] = true;
            }
        }
    }

    /// <summary>Runs <paramref name="steps"/> steps with faults, then heals everything and requires convergence.</summary>
    public void Run(int steps)
    {
        for (int i = 0; i < steps; i++)
        {
            Step();
        }

        _faultsOn = false;
        Heal();
        Trace("faults stop");
        foreach (SimHost host in _hosts.Values)
        {
            if (host.Node is null && !host.Stopped)
            {
                host.RestartAtStep = _step;
            }
        }

        for (int i = 0; i < ConvergenceStepsMax; i++)
        {
            Step();
            if (Converged())
            {
                CheckFinalState();
                Trace($"converged after {i + 1} steps");
                return;
            }
        }

        throw new SimulationViolation($"no convergence within {ConvergenceStepsMax} steps after the faults stopped: {Describe()}");
    }

    private string Describe() => string.Join("; ", _hosts.Values.Select(h => h.Node is null ? $"n{h.Id} down stopped={h.Stopped}" : Format.Status(h.Node)));

    private void Step()
    {
        _step++;
        RestartDueNodes();
        foreach (SimHost host in _hosts.Values)
        {
            host.Node?.Tick();
        }

        DeliverDue();
        foreach (SimHost host in _hosts.Values)
        {
            ProcessReady(host);
        }

        AnswerHeldNodes();

        // Checked before and after membership changes: a commit is judged under the membership that made it.
        CheckInvariants();
        if (_faultsOn)
        {
            InjectFaults();
        }

        ProposeSomething();
        ReadSomething();
        CheckInvariants();
    }

    private void RestartDueNodes()
    {
        foreach (SimHost host in _hosts.Values)
        {
            if (host.Node is null && !host.Stopped && host.RestartAtStep >= 0 && host.RestartAtStep <= _step)
            {
                Restart(host);
            }
        }
    }

    private void Restart(SimHost host)
    {
        // One replacement at a time, as an operator replaces members: a second disk lost while the
        // first replaced member still holds its votes can lose what only those two disks held.
        if (_replacements && _faultsOn && !_hosts.Values.Any(other => other.HoldsVotes) && Chance(250))
        {
            Wipe(host);
        }

        var node = new RaftNode(host.Config, host.Storage, new SplitMix64Random((_seed * 31) + host.Id + ((ulong)_step << 16)), host.AppliedIndex);
        host.Node = node;
        host.RestartAtStep = -1;
        Trace($"restart n{host.Id} term={node.Term} vote={node.Vote} last={node.LastIndex} commit={node.CommitIndex}");
        // Terms and votes never go back across a restart.
        Require(node.Term >= host.MaxTermSent, $"n{host.Id} restarted at term {node.Term} after sending term {host.MaxTermSent}");
        Require(node.Term != host.LastGrantedTerm || node.Vote == host.LastGrantedCandidate, $"n{host.Id} restarted in term {node.Term} with vote {node.Vote} after granting {host.LastGrantedCandidate}");
        host.LastTerm = node.Term;
        host.LeaderTerm = 0;
        if (host.HoldsVotes)
        {
            node.HoldVotes();
        }
    }

    /// <summary>The node's disk is lost: it comes back empty under the same identity, as a replaced member.</summary>
    private void Wipe(SimHost host)
    {
        host.Storage = new MemoryRaftStorage(_genesis);
        host.Wiped = true;
        Wipes++;
        host.HoldsVotes = _holdVotes;
        host.AppliedIndex = 0;
        host.AppliedIds.Clear();
        host.MaxTermSent = 0;
        host.LastGrantedTerm = 0;
        host.LastGrantedCandidate = 0;
        host.LastTerm = 0;
        host.LeaderTerm = 0;
        host.CheckedCommit = 0;
        // A candidacy whose requests reached nobody won nothing; one that reached anybody left its term there.
        foreach (var ownVote in _votes.Where(v => v.Key.Voter == host.Id && v.Value == host.Id).Select(v => v.Key).ToList())
        {
            _votes.Remove(ownVote);
        }

        Trace($"wipe n{host.Id}");
    }

    /// <summary>
    /// A node that holds its votes asks the others for their term and last log entry; an answer gets
    /// through when the network lets both ways through. Once it stops holding, its mark is cleared.
    /// </summary>
    private void AnswerHeldNodes()
    {
        foreach (SimHost host in _hosts.Values)
        {
            if (host.Node is not { } node || !host.HoldsVotes)
            {
                continue;
            }

            if (!node.VotesHeld)
            {
                if (!node.HasReady())
                {
                    host.HoldsVotes = false; // the hard state of the release is durable
                }

                continue;
            }

            foreach (SimHost peer in _hosts.Values)
            {
                if (peer.Id != host.Id && peer.Node is { } answering && _canSend[host.Id, peer.Id] && _canSend[peer.Id, host.Id] && Chance(200))
                {
                    node.ObservePeerState(peer.Id, answering.Term, answering.LastIndex, answering.LastTerm);
                }
            }
        }
    }

    private void Crash(SimHost host, string why)
    {
        host.Node = null;
        host.RestartAtStep = _step + 5 + _random.NextInt(40);
        Trace($"crash n{host.Id} {why}");
    }

    private static void Require(bool condition, string message)
    {
        if (!condition)
        {
            throw new SimulationViolation(message);
        }
    }
}
