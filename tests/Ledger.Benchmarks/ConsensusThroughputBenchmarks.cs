using BenchmarkDotNet.Attributes;
using Ledger.Consensus;

namespace Ledger.Benchmarks;

/// <summary>
/// A 3-voter in-memory cluster (no I/O) on one thread: one operation is one committed entry, proposed
/// in batches of 64 and run until every node has applied it. MemoryDiagnoser reports allocated bytes
/// per committed entry.
/// </summary>
[MemoryDiagnoser]
public class ConsensusThroughputBenchmarks
{
    private const int BatchEntries = 64;
    private const int PayloadBytes = 32;
    private const int DeliveryRoundsMax = 64;

    private readonly ReadOnlyMemory<byte>[] _batch = new ReadOnlyMemory<byte>[BatchEntries];
    private readonly List<Message> _inFlight = new(256);
    private readonly List<Message> _delivering = new(256);
    private RaftNode[] _nodes = [];
    private WindowRaftStorage[] _storages = [];

    [GlobalSetup]
    public void Setup()
    {
        for (int i = 0; i < BatchEntries; i++)
        {
            _batch[i] = new byte[PayloadBytes];
        }

        var genesis = new Membership([1, 2, 3]);
        _storages = [new WindowRaftStorage(genesis), new WindowRaftStorage(genesis), new WindowRaftStorage(genesis)];
        _nodes = new RaftNode[3];
        for (int i = 0; i < 3; i++)
        {
            var config = new RaftConfig { NodeId = (ulong)i + 1, PreVote = false, CheckQuorum = false, MaxEntriesPerMessage = 256 };
            _nodes[i] = new RaftNode(config, _storages[i], new SplitMix64Random((ulong)i + 1));
        }

        _nodes[0].Campaign();
        RunUntilQuiet();
        if (_nodes[0].Role != RaftRole.Leader)
        {
            throw new InvalidOperationException("node 1 did not become leader");
        }
    }

    [Benchmark(OperationsPerInvoke = BatchEntries)]
    public ulong CommitBatchesOf64()
    {
        ProposeResult result = _nodes[0].ProposeBatch(_batch);
        if (!result.IsAccepted)
        {
            throw new InvalidOperationException($"proposal refused: {result.Status}");
        }

        RunUntilQuiet();
        if (_nodes[0].AppliedIndex != result.Index || _nodes[1].AppliedIndex != result.Index || _nodes[2].AppliedIndex != result.Index)
        {
            throw new InvalidOperationException("batch not applied everywhere");
        }

        return result.Index;
    }

    private void RunUntilQuiet()
    {
        for (int round = 0; round < DeliveryRoundsMax; round++)
        {
            bool busy = false;
            for (int i = 0; i < _nodes.Length; i++)
            {
                busy |= Process(_nodes[i], _storages[i]);
            }

            if (!busy && _inFlight.Count == 0)
            {
                return;
            }

            _delivering.Clear();
            _delivering.AddRange(_inFlight);
            _inFlight.Clear();
            foreach (Message message in _delivering)
            {
                _nodes[message.To - 1].Step(message);
            }
        }

        throw new InvalidOperationException("cluster did not quiesce");
    }

    private bool Process(RaftNode node, WindowRaftStorage storage)
    {
        if (!node.HasReady())
        {
            return false;
        }

        Ready ready = node.Ready();
        foreach (Message message in ready.Messages)
        {
            _inFlight.Add(message);
        }

        storage.Append(ready.Entries.Span);
        if (ready.HardState is { } hardState)
        {
            storage.SetHardState(hardState);
        }

        foreach (Message message in ready.MessagesAfterPersist)
        {
            _inFlight.Add(message);
        }

        node.Advance(); // applying is a no-op here: the cost measured is consensus only
        return true;
    }
}

/// <summary>
/// In-memory storage keeping only the latest <see cref="WindowEntries"/> entries, in a ring, so that a
/// long benchmark run does not measure memory growth. Valid because delivery here is synchronous:
/// no message outlives the window.
/// </summary>
internal sealed class WindowRaftStorage(Membership genesis) : IRaftStorage
{
    private const int WindowEntries = 1 << 16;

    private readonly Entry[] _ring = new Entry[WindowEntries];
    private HardState _hardState;

    public RaftInitialState InitialState => new(_hardState, genesis);

    public ulong LastIndex { get; private set; }

    public ulong Term(ulong index) => index == 0 ? 0 : At(index).Term;

    public ReadOnlyMemory<Entry> Entries(ulong fromIndex, ulong toIndexExclusive, ulong maxBytes)
    {
        int start = Position(fromIndex);
        int count = (int)Math.Min(toIndexExclusive - fromIndex, (ulong)(WindowEntries - start)); // contiguous part of the ring
        ulong bytes = 0;
        for (int i = 0; i < count; i++)
        {
            bytes += _ring[start + i].SizeBytes;
            if (bytes > maxBytes && i > 0)
            {
                count = i;
                break;
            }
        }

        return new ReadOnlyMemory<Entry>(_ring, start, count);
    }

    public void SetHardState(HardState hardState) => _hardState = hardState;

    public void Append(ReadOnlySpan<Entry> entries)
    {
        foreach (ref readonly Entry entry in entries)
        {
            if (entry.Index != LastIndex + 1 && entry.Index > LastIndex)
            {
                throw new InvalidOperationException("gap in the log");
            }

            _ring[Position(entry.Index)] = entry;
            LastIndex = entry.Index;
        }
    }

    private ref Entry At(ulong index)
    {
        if (index > LastIndex || LastIndex - index >= WindowEntries)
        {
            throw new InvalidOperationException($"index {index} outside the window ending at {LastIndex}");
        }

        return ref _ring[Position(index)];
    }

    private static int Position(ulong index) => (int)(index % WindowEntries);
}
