using System.Diagnostics;
using System.Text;
using Ledger.Node.Admission;
using Ledger.Node.Checkpoints;
using Ledger.Node.Sequencing;
using Ledger.Node.State;
using Ledger.Sdk;
using Ledger.Sdk.Protos.V1;
using Ledger.Storage;

namespace Ledger.Node.Hosting;

/// <summary>
/// One node's parts, wired as the pipeline admission → batcher → sequencer → apply → checkpoint
/// signer. Owns the background loops and the stores; disposed when the host stops.
/// </summary>
internal sealed partial class LedgerNode : IAsyncDisposable
{
    private const int NoncePruneIntervalMs = 10_000;
    private readonly CancellationTokenSource _stopping = new();
    private const int DurableEveryBatches = 256;
    private const int DurableEveryMs = 1_000;
    private readonly RocksDbKeyValueStore _store;
    private readonly RocksDbKeyValueStore _logStore;
    private readonly LocalSequencer _sequencer;
    private readonly CheckpointArchive _archive;
    private readonly NonceRegistry _nonces;
    private readonly ILogger<LedgerNode> _logger;
    private readonly List<Task> _loops = [];
    private readonly TaskCompletionSource _applyFailed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public LedgerNode(NodeOptions options, NodeFiles files, Consortium consortium, SignerKey memberKey, ILogger<LedgerNode> logger)
    {
        Options = options;
        Files = files;
        Consortium = consortium;
        MemberKey = memberKey;
        _logger = logger;
        _store = RocksDbKeyValueStore.Open(Path.Combine(files.DataDir, "state"));
        State = new LedgerState(_store);
        _logStore = RocksDbKeyValueStore.Open(Path.Combine(files.DataDir, "log"));
        _sequencer = new LocalSequencer(_logStore, State.Applied.BatchIndex, options.InFlightBatchesMax);
        _archive = new CheckpointArchive(Path.Combine(files.DataDir, "checkpoints.db"));
        _nonces = new NonceRegistry(options.NonceWindowMs, options.NoncesMax);
        RestoreNonces();
        var issuerKeys = consortium.Issuers.ToDictionary(issuer => issuer.Id, issuer => issuer.Key, StringComparer.Ordinal);
        Admission = new AnchorAdmission(consortium.Origin, issuerKeys, _nonces, options.DigestsPerRequestMax, options.NonceWindowMs, NowMs);
        var lastTimestampMs = _sequencer.Unapplied.Count > 0
            ? BatchCodec.Decode(_sequencer.Unapplied[^1].Bytes).TimestampMs
            : State.Applied.TimestampMs;
        Batcher = new Batcher(
            new BatcherLimits(options.QueueDigestsMax, options.BatchDigestsMax, options.BatchLingerMs),
            _sequencer,
            NowMs,
            lastTimestampMs);
        Signer = new CheckpointSigner(State, _archive, SignCheckpoint, options.CheckpointIntervalMs, NowMs);
    }

    public NodeOptions Options { get; }

    public NodeFiles Files { get; }

    public Consortium Consortium { get; }

    public SignerKey MemberKey { get; }

    public LedgerState State { get; }

    public AnchorAdmission Admission { get; }

    public Batcher Batcher { get; }

    public CheckpointSigner Signer { get; }

    public CancellationToken Stopping => _stopping.Token;

    /// <summary>
    /// Faults when apply failed. The in-memory state may then be ahead of the store, so the process
    /// must stop (fail-stop); a restart rebuilds the state from the durable log.
    /// </summary>
    public Task ApplyFailed => _applyFailed.Task;

    public static ulong NowMs() => (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    /// <summary>Replays the unapplied log, signs a checkpoint if none covers the tree, starts the loops.</summary>
    public void Start()
    {
        _loops.Add(Task.Run(State.PopulateDigestFilter));
        _loops.Add(Task.Run(() => ApplyLoopAsync(_stopping.Token)));
        _loops.Add(Task.Run(() => Batcher.RunAsync(_stopping.Token)));
        _loops.Add(Task.Run(() => Signer.RunAsync(_stopping.Token)));
        _loops.Add(Task.Run(() => PruneNoncesAsync(_stopping.Token)));
        if (Environment.GetEnvironmentVariable("LEDGER_TRACE_PIPELINE") == "1")
        {
            _loops.Add(Task.Run(() => TraceAsync(_stopping.Token)));
        }
    }

    /// <summary>Waits until every batch that was in the log at start is applied and a checkpoint covers the tree.</summary>
    public async Task WaitReadyAsync(CancellationToken cancellationToken)
    {
        var target = _sequencer.Unapplied.Count > 0 ? _sequencer.Unapplied[^1].Index : State.Applied.BatchIndex;
        while (State.Applied.BatchIndex < target)
        {
            if (_applyFailed.Task.IsFaulted)
            {
                throw new NodeStartException("replaying the log failed: " + _applyFailed.Task.Exception!.InnerException!.Message);
            }

            await Task.Delay(5, cancellationToken);
        }

        Signer.SignIfBehind();
    }

    public GetStatusResponse Status()
    {
        var applied = State.Applied;
        var response = new GetStatusResponse
        {
            Origin = Consortium.Origin,
            Member = MemberKey.Name,
            Leader = MemberKey.Name,
            TreeSize = applied.TreeSize,
            MaxDigestsPerRequest = (uint)Options.DigestsPerRequestMax,
            NonceWindowMs = Options.NonceWindowMs,
            Checkpoint = Signer.Latest.Text,
        };
        foreach (var member in Consortium.Members)
        {
            var self = member.Id == MemberKey.Name;
            response.Members.Add(new MemberStatus
            {
                Id = member.Id,
                Address = member.Address ?? "",
                Role = self ? "leader" : "unreachable",
                Term = self ? 1UL : 0UL,
                CommitIndex = self ? applied.BatchIndex : 0,
                AppliedIndex = self ? applied.BatchIndex : 0,
            });
        }

        return response;
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        foreach (var loop in _loops)
        {
            try
            {
                await loop;
            }
            catch (OperationCanceledException)
            {
                // Expected on shutdown.
            }
        }

        _sequencer.Dispose();
        _archive.Dispose();
        State.MakeDurable();
        _store.Dispose();
        _logStore.Dispose();
        _stopping.Dispose();
    }

    private string SignCheckpoint(ulong size, byte[] root)
    {
        var body = new Checkpoint(Consortium.Origin, size, root).Body();
        return SignedNote.Sign(body, [MemberKey]).ToText();
    }

    private async Task ApplyLoopAsync(CancellationToken cancellationToken)
    {
        var lastDurable = Stopwatch.GetTimestamp();
        try
        {
            await foreach (var entry in _sequencer.ReadCommittedAsync(cancellationToken))
            {
                var started = Stopwatch.GetTimestamp();
                var batch = BatchCodec.Decode(entry.Bytes);
                var outcomes = State.Apply(entry.Index, batch);
                Batcher.Stats.Applied(Stopwatch.GetTimestamp() - started);
                if (entry.Tag is PendingAnchor[] pendings && outcomes is not null)
                {
                    for (var i = 0; i < pendings.Length; i++)
                    {
                        pendings[i].Completion.TrySetResult(outcomes[i]);
                    }
                }

                Signer.NotifyGrown();
                if (entry.Index % DurableEveryBatches == 0 || Stopwatch.GetElapsedTime(lastDurable).TotalMilliseconds >= DurableEveryMs)
                {
                    _sequencer.Truncate(State.MakeDurable().BatchIndex);
                    lastDurable = Stopwatch.GetTimestamp();
                }
            }
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            LogApplyFailed(exception);
            _applyFailed.TrySetException(exception);
            await _stopping.CancelAsync();
            throw;
        }
    }

    private void RestoreNonces()
    {
        var oldestKeptMs = NowMs() - Math.Min(NowMs(), Options.NonceWindowMs);
        State.PruneNonces(oldestKeptMs);
        foreach (var (key, _) in StateKeys.ScanPrefix(_store, [StateKeys.Nonce]))
        {
            var (issuedAtMs, issuer, nonce) = StateKeys.ParseNonceKey(key);
            _nonces.Restore(issuer, nonce, issuedAtMs);
        }

        foreach (var entry in _sequencer.Unapplied)
        {
            foreach (var anchor in BatchCodec.Decode(entry.Bytes).Entries)
            {
                _nonces.Restore(anchor.Issuer, anchor.Nonce, anchor.IssuedAtMs);
            }
        }
    }

    private async Task PruneNoncesAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(NoncePruneIntervalMs, cancellationToken);
            var nowMs = NowMs();
            _nonces.Prune(nowMs);
            State.PruneNonces(nowMs - Math.Min(nowMs, Options.NonceWindowMs));
        }
    }

    private async Task TraceAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(1000, cancellationToken);
            await Console.Error.WriteLineAsync("pipeline: " + Batcher.Stats.Describe());
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Critical, Message = "apply failed; the node stops serving anchors")]
    private partial void LogApplyFailed(Exception exception);

    internal static string Describe(NodeFiles files, string address, bool plaintext)
    {
        var text = new StringBuilder();
        text.Append("ledger-node listening on ").Append(address).Append('\n');
        if (plaintext)
        {
            text.Append("  plain HTTP/2 without TLS: for development and tests only\n");
        }

        text.Append("  data directory:   ").Append(files.DataDir).Append('\n');
        text.Append("  consortium file:  ").Append(files.ConsortiumPath).Append('\n');
        if (files.DevelopmentIssuerKeyPath is not null)
        {
            text.Append("  development issuer key: ").Append(files.DevelopmentIssuerKeyPath).Append('\n');
        }

        return text.ToString();
    }
}
