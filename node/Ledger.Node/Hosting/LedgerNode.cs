using System.Diagnostics;
using System.Text;
using Ledger.Node.Admission;
using Ledger.Node.Checkpoints;
using Ledger.Node.Replicated;
using Ledger.Node.Sequencing;
using Ledger.Node.State;
using Ledger.Replication;
using Ledger.Sdk;
using Ledger.Sdk.Protos.V1;
using Ledger.Storage;

namespace Ledger.Node.Hosting;

/// <summary>
/// One node's parts, wired as the pipeline admission → batcher → sequencer → apply → checkpoint
/// signer. Owns the background loops and the stores; disposed when the host stops. With a
/// one-member consortium the sequencer is a local log; with more members it is Raft
/// (<see cref="Replica"/>), and checkpoints are published once a quorum of members signed them.
/// </summary>
internal sealed partial class LedgerNode : IAsyncDisposable
{
    /// <summary>The checkpoint archive's file in the data directory.</summary>
    public const string ArchiveName = "checkpoints.db";
    private const int NoncePruneIntervalMs = 10_000;
    private const int QuorumWarningIntervalSeconds = 10;
    private const int AppliedPollMs = 20;
    private long _lastQuorumWarning;
    private readonly CancellationTokenSource _stopping = new();
    private const int DurableEveryBatches = 256;
    private const int DurableEveryMs = 1_000;
    private readonly RocksDbKeyValueStore _store;
    private readonly RocksDbKeyValueStore? _logStore;
    private readonly ISequencer _sequencer;
    private readonly EntryAuthenticator _entries;

    // A member that leads can propose what it likes: one line per 10 s each, saying how many were held back.
    private readonly LogBudget _droppedEntryLog = new(1, TimeSpan.FromSeconds(10));
    private readonly LogBudget _unknownIssuerLog = new(1, TimeSpan.FromSeconds(10));
    private readonly LocalSequencer? _localSequencer;
    private TaskCompletionSource _appliedSignal = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CheckpointArchive _archive;
    private readonly NonceRegistry _nonces;
    private readonly ILogger<LedgerNode> _logger;
    private readonly List<Task> _loops = [];
    private readonly TaskCompletionSource _applyFailed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public LedgerNode(NodeOptions options, NodeFiles files, Consortium consortium, SignerKey memberKey, ILogger<LedgerNode> logger, ILoggerFactory? loggers = null)
    {
        Options = options;
        Files = files;
        Consortium = consortium;
        MemberKey = memberKey;
        _logger = logger;
        Damage = new StoreDamage(files.DataDir, logger);
        StoreDamage.RepairAtStart(files.DataDir, consortium.Members.Count > 1, logger);
        _store = RocksDbKeyValueStore.Open(Path.Combine(files.DataDir, StoreDamage.StateStore), Damage.HandlerFor(StoreDamage.StateStore), StateKeys.StoreFamilies);
        State = new LedgerState(_store);
        _archive = CheckpointArchive.OpenChecked(
            Path.Combine(files.DataDir, ArchiveName), new CheckpointVerifier(consortium), State.TreeSize, State.RootAt, LogArchiveDiscarded);
        var lastTimestampMs = State.Applied.TimestampMs;
        if (consortium.Members.Count == 1)
        {
            try
            {
                _logStore = RocksDbKeyValueStore.Open(Path.Combine(files.DataDir, "log"), Damage.HandlerFor("log"));
            }
            catch
            {
                _archive.Dispose();
                _store.Dispose();
                throw;
            }

            _localSequencer = new LocalSequencer(_logStore, State.Applied.BatchIndex, options.InFlightBatchesMax);
            _sequencer = _localSequencer;
            if (_localSequencer.Unapplied.Count > 0)
            {
                lastTimestampMs = BatchCodec.Decode(_localSequencer.Unapplied[^1].Bytes).TimestampMs;
            }
        }
        else
        {
            try
            {
                Replica = new ReplicaMember(options, files, consortium, memberKey, State.Applied.BatchIndex, NowMs, Damage.HandlerFor("raft"), loggers);
            }
            catch
            {
                // Nothing of this node outlives a refused start: the stores are closed again.
                _archive.Dispose();
                _store.Dispose();
                throw;
            }

            _sequencer = new RaftSequencer(Replica.Host, Replica.RecoveredCommitIndex);
            Replica.Peers.Cosigner = new StateCosigner(State, memberKey, NowMs, options.ClockSkewMs, WaitForTreeSizeAsync);
        }

        _nonces = new NonceRegistry(options.NonceWindowMs, options.NoncesMax);
        RestoreNonces();
        var issuerKeys = consortium.Issuers.ToDictionary(issuer => issuer.Id, issuer => issuer.Key, StringComparer.Ordinal);
        Admission = new AnchorAdmission(consortium.Origin, issuerKeys, _nonces, options.DigestsPerRequestMax, options.NonceWindowMs, NowMs);
        _entries = new EntryAuthenticator(consortium.Origin, issuerKeys);
        Batcher = new Batcher(
            new BatcherLimits(options.QueueDigestsMax, options.BatchDigestsMax, options.BatchLingerMs),
            _sequencer,
            NowMs,
            lastTimestampMs,
            () => State.Applied.TimestampMs,
            options.InFlightBatchesMax);
        Signer = new CheckpointSigner(State, _archive, SignCheckpointAsync, options.CheckpointIntervalMs, NowMs);
    }

    /// <summary>The node's metrics, once the host attached them.</summary>
    public Observability.NodeMetrics? Metrics { get; private set; }

    public void AttachMetrics(Observability.NodeMetrics metrics)
    {
        Metrics = metrics;
        Batcher.Committed = metrics.Committed;
    }

    /// <summary>This member's consortium machinery; null for a one-member consortium.</summary>
    public ReplicaMember? Replica { get; }

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

    /// <summary>Damage found in a store; <see cref="StoreDamage.Found"/> faults and the process must stop.</summary>
    public StoreDamage Damage { get; }

    /// <summary>The node's wall clock in Unix milliseconds, moved by the test setting <see cref="NodeOptions.ClockOffsetMs"/>.</summary>
    public ulong NowMs() => WallClockMs(Options.ClockOffsetMs);

    /// <summary>Unix milliseconds now, plus <paramref name="offsetMs"/> (never below 0).</summary>
    public static ulong WallClockMs(long offsetMs) => (ulong)Math.Max(0, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + offsetMs);

    /// <summary>Replays the unapplied log, signs a checkpoint if none covers the tree, starts the loops.</summary>
    public void Start()
    {
        Replica?.Start();
        _loops.Add(Task.Run(PopulateDigestFilter));
        _loops.Add(Task.Run(() => ApplyLoopAsync(_stopping.Token)));
        _loops.Add(Task.Run(() => Batcher.RunAsync(_stopping.Token)));
        _loops.Add(Task.Run(() => Signer.RunAsync(_stopping.Token)));
        _loops.Add(Task.Run(() => PruneNoncesAsync(_stopping.Token)));
        if (Options.ScrubIntervalMinutes > 0)
        {
            RocksDbKeyValueStore?[] stores = [_store, _logStore, Replica?.Store];
            _loops.Add(Task.Run(() => Damage.ScrubAsync(
                stores.OfType<RocksDbKeyValueStore>().ToArray(), TimeSpan.FromMinutes(Options.ScrubIntervalMinutes), _stopping.Token)));
        }
        if (Environment.GetEnvironmentVariable("LEDGER_TRACE_PIPELINE") == "1")
        {
            _loops.Add(Task.Run(() => TraceAsync(_stopping.Token)));
        }
    }

    /// <summary>
    /// How long a consortium member replays its own log before it listens anyway. A member whose state
    /// store is rebuilt applies the whole log again; until it listens it neither votes nor takes
    /// entries, so a long replay goes on in the background while it serves as a follower that lags.
    /// </summary>
    public static readonly TimeSpan MemberReplayBeforeListeningMax = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Waits until every batch that was in the log at start is applied and a checkpoint covers the tree
    /// (a consortium member: at most <see cref="MemberReplayBeforeListeningMax"/>, then it goes on applying while serving).
    /// </summary>
    public async Task WaitReadyAsync(CancellationToken cancellationToken)
    {
        var target = Math.Max(_sequencer.RecoveredCommitIndex, State.Applied.BatchIndex);
        var started = Stopwatch.GetTimestamp();
        while (AppliedLogIndex < target && (Replica is null || Stopwatch.GetElapsedTime(started) < MemberReplayBeforeListeningMax))
        {
            if (Damage.Found.IsFaulted)
            {
                throw Damage.Found.Exception!.InnerException!;
            }

            if (_applyFailed.Task.IsFaulted)
            {
                throw new NodeStartException("replaying the log failed: " + _applyFailed.Task.Exception!.InnerException!.Message);
            }

            await Task.Delay(5, cancellationToken);
        }

        // Alone, a member signs its tree at once; in a consortium the signer loop gathers a quorum
        // in the background (the other members may not be up yet).
        if (Replica is null)
        {
            await Signer.SignIfBehindAsync(cancellationToken);
        }
        else
        {
            Signer.NotifyGrown();
        }
    }

    /// <summary>Completes once the applied tree has at least <paramref name="treeSize"/> leaves.</summary>
    public Task WaitForTreeSizeAsync(ulong treeSize, CancellationToken cancellationToken) =>
        WaitForAppliedAsync(() => State.TreeSize >= treeSize, cancellationToken);

    /// <summary>Completes once the log is applied up to <paramref name="index"/>.</summary>
    public Task WaitForAppliedIndexAsync(ulong index, CancellationToken cancellationToken) =>
        WaitForAppliedAsync(() => AppliedLogIndex >= index, cancellationToken);

    /// <summary>How far the log is applied (in a consortium, Raft's own entries included).</summary>
    public ulong AppliedLogIndex => Replica?.AppliedLogIndex(() => State.Applied.BatchIndex) ?? State.Applied.BatchIndex;

    private async Task WaitForAppliedAsync(Func<bool> reached, CancellationToken cancellationToken)
    {
        while (true)
        {
            var signal = Volatile.Read(ref _appliedSignal);
            if (reached())
            {
                return;
            }

            // Checked here, not left to the awaits below: once the token is cancelled, the delay is a
            // cancelled task at once, WhenAny completes at once, and WaitAsync hands back a completed
            // task without looking at the token, so the loop would spin until the tree got there.
            cancellationToken.ThrowIfCancellationRequested();

            // Raft's own entries are applied without a signal; look again now and then.
            await Task.WhenAny(signal.Task, Task.Delay(AppliedPollMs, cancellationToken));
        }
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
            catch (Exception exception) when ((_applyFailed.Task.IsFaulted || Damage.Found.IsFaulted) && exception is not OperationCanceledException)
            {
                // The apply failure is reported through ApplyFailed, and the process exits with it; shutting
                // down must not throw it again (an unhandled exception here aborted the process).
            }
        }

        if (Replica is not null)
        {
            await Replica.DisposeAsync();
        }

        _localSequencer?.Dispose();
        Metrics?.Dispose();
        _archive.Dispose();
        State.WaitForIndexRun();
        if (!_applyFailed.Task.IsFaulted && !Damage.Found.IsFaulted)
        {
            // After a failed apply the store may refuse writes (a full disk); the log is the durable record and a restart replays it.
            State.MakeDurable();
            try
            {
                // The digest index tail, and table files rather than a write-ahead log to replay: a faster start, and the scrub covers them.
                State.WriteDigestIndex();
                _store.Flush();
            }
            catch (RocksDbSharp.RocksDbException exception)
            {
                LogFlushFailed(exception.Message);
            }
        }

        _store.Dispose();
        _logStore?.Dispose();
        _stopping.Dispose();
    }

    private async Task<string?> SignCheckpointAsync(ulong size, byte[] root, CancellationToken cancellationToken)
    {
        var own = StateCosigner.SignOwn(Consortium.Origin, size, root, MemberKey);
        if (Replica is null)
        {
            return own.ToText();
        }

        var (note, refusals) = await Replica.Cosignatures.CollectAsync(own, Consortium.Quorum, cancellationToken);
        if (note.Signatures.Count >= Consortium.Quorum)
        {
            return note.ToText();
        }

        if (Stopwatch.GetElapsedTime(_lastQuorumWarning).TotalSeconds >= QuorumWarningIntervalSeconds)
        {
            _lastQuorumWarning = Stopwatch.GetTimestamp();
            LogNoQuorum(size, note.Signatures.Count, Consortium.Quorum, string.Join("; ", refusals));
        }

        return null;
    }

    private async Task ApplyLoopAsync(CancellationToken cancellationToken)
    {
        var lastDurable = Stopwatch.GetTimestamp();
        try
        {
            var applied = 0UL;
            await foreach (var entry in _sequencer.ReadCommittedAsync(cancellationToken))
            {
                var started = Stopwatch.GetTimestamp();
                var batch = Decode(entry);
                if (Replica is not null && entry.Tag is not PendingAnchor[])
                {
                    // Not this member's own proposal (whose entries its admission verified): an entry
                    // of an issuer of the file must carry that issuer's signature, or it is left out
                    // on every member alike.
                    batch = _entries.Authenticated(batch, (dropped, refusal) => EntryDropped(entry.Index, dropped, refusal));
                    WarnOfUnknownIssuers(entry.Index, batch);
                }

                var outcomes = State.Apply(entry.Index, batch);
                Batcher.Stats.Applied(Stopwatch.GetTimestamp() - started);
                Metrics?.Applied(Stopwatch.GetElapsedTime(started));
                foreach (var anchor in batch.Entries)
                {
                    // Every member remembers every applied nonce, so whichever leads next refuses replays.
                    _nonces.Restore(anchor.Issuer, anchor.Nonce, anchor.IssuedAtMs);
                }

                if (entry.Tag is PendingAnchor[] pendings && outcomes is not null)
                {
                    for (var i = 0; i < pendings.Length; i++)
                    {
                        pendings[i].Completion.TrySetResult(outcomes[i]);
                    }
                }

                Interlocked.Exchange(ref _appliedSignal, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
                Signer.NotifyGrown();
                if (++applied % DurableEveryBatches == 0 || Stopwatch.GetElapsedTime(lastDurable).TotalMilliseconds >= DurableEveryMs)
                {
                    _sequencer.Compact(State.MakeDurable().BatchIndex);
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

    /// <summary>
    /// Decodes a committed batch. In a consortium a batch that does not decode (a leader's bug) is
    /// applied as an empty batch on every member alike, rather than stopping them all.
    /// </summary>
    private Batch Decode(CommittedEntry entry)
    {
        try
        {
            return BatchCodec.Decode(entry.Bytes);
        }
        catch (FormatException exception) when (Replica is not null)
        {
            LogUndecodableBatch(entry.Index, exception.Message);
            return new Batch(State.Applied.TimestampMs, []);
        }
    }

    /// <summary>Counts an entry left out of a batch, and logs it within <see cref="_droppedEntryLog"/>.</summary>
    private void EntryDropped(ulong index, AnchorEntry entry, string refusal)
    {
        Metrics?.EntryDropped();
        if (_droppedEntryLog.TryTake(out var heldBack))
        {
            LogEntryDropped(index, entry.Digests.Count, refusal, heldBack);
        }
    }

    /// <summary>Logs, within <see cref="_unknownIssuerLog"/>, each submission applied unverified because this member's consortium file does not name its issuer.</summary>
    private void WarnOfUnknownIssuers(ulong index, Batch batch)
    {
        foreach (var anchor in batch.Entries)
        {
            if (!_entries.Knows(anchor.Issuer) && _unknownIssuerLog.TryTake(out var heldBack))
            {
                LogUnknownIssuer(index, anchor.Issuer, heldBack);
            }
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

        foreach (var entry in _localSequencer?.Unapplied ?? [])
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

    private void PopulateDigestFilter()
    {
        var started = Stopwatch.GetTimestamp();
        var digests = State.PopulateDigestFilter(_stopping.Token);
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        LogDigestFilterFilled(digests, seconds);
    }

    [LoggerMessage(EventId = 12, Level = LogLevel.Information,
        Message = "dedupe filter filled from {Digests} stored digests in {Seconds:F1} s (until then apply looked every new digest up in the store)")]
    private partial void LogDigestFilterFilled(long digests, double seconds);

    [LoggerMessage(EventId = 1, Level = LogLevel.Critical, Message = "apply failed; the node stops serving anchors")]
    private partial void LogApplyFailed(Exception exception);

    [LoggerMessage(EventId = 11, Level = LogLevel.Warning,
        Message = "the checkpoint archive was discarded: {Detail}. It starts empty, and the node signs its tree again before serving a checkpoint")]
    private partial void LogArchiveDiscarded(string detail);

    [LoggerMessage(EventId = 9, Level = LogLevel.Warning, Message = "writing the state store's memtable to table files at shutdown failed ({Detail}); the next start replays its write-ahead log")]
    private partial void LogFlushFailed(string detail);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "checkpoint at size {Size} has {Signatures} of {Quorum} signatures; retrying. Members said: {Refusals}")]
    private partial void LogNoQuorum(ulong size, int signatures, int quorum, string refusals);

    [LoggerMessage(EventId = 13, Level = LogLevel.Error,
        Message = "committed log entry {Index}: a submission of {Digests} digests left out on every member, as {Refusal} "
            + "(the member that led when it was proposed admitted what its issuer did not sign); {HeldBack} more left out since the last such line")]
    private partial void LogEntryDropped(ulong index, int digests, string refusal, int heldBack);

    [LoggerMessage(EventId = 14, Level = LogLevel.Warning,
        Message = "committed log entry {Index} holds a submission of issuer '{Issuer}', whom this member's consortium file does not name: applied without checking its signature. "
            + "Give every member the same consortium file ({HeldBack} more such submissions since the last such line)")]
    private partial void LogUnknownIssuer(ulong index, string issuer, int heldBack);

    [LoggerMessage(EventId = 3, Level = LogLevel.Error, Message = "committed log entry {Index} is not a batch ({Problem}); applied as an empty batch on every member")]
    private partial void LogUndecodableBatch(ulong index, string problem);

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
