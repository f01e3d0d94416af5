using System.Threading.Channels;
using Ledger.Node.State;
using Ledger.Sdk;

namespace Ledger.Node.Checkpoints;

/// <summary>A signed checkpoint this node holds: tree size and the signed note text.</summary>
internal sealed record SignedCheckpointText(ulong TreeSize, string Text);

/// <summary>
/// Signs a checkpoint of the node's own applied tree whenever it has grown, at most once per
/// <c>minimumIntervalMs</c> (the first growth after a quiet period is signed at once), archives
/// it, and wakes whoever waits for a checkpoint covering a given size. The signing function gives
/// the text to publish, or null when the checkpoint did not gather its signatures (a consortium
/// whose quorum is not reachable): the signer then tries again shortly, at the size the tree has then.
/// </summary>
internal sealed class CheckpointSigner
{
    private readonly LedgerState _state;
    private readonly CheckpointArchive _archive;
    /// <summary>Pause before trying again after a checkpoint did not gather its signatures.</summary>
    public const int RetryDelayMs = 100;

    private readonly Func<ulong, byte[], CancellationToken, Task<string?>> _sign;
    private readonly int _minimumIntervalMs;
    private readonly Lock _signLock = new();
    private readonly Func<ulong> _nowMs;
    private readonly Channel<bool> _grown = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private TaskCompletionSource _published = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private SignedCheckpointText _latest;

    public CheckpointSigner(
        LedgerState state,
        CheckpointArchive archive,
        Func<ulong, byte[], CancellationToken, Task<string?>> sign,
        int minimumIntervalMs,
        Func<ulong> nowMs)
    {
        _state = state;
        _archive = archive;
        _sign = sign;
        _minimumIntervalMs = minimumIntervalMs;
        _nowMs = nowMs;
        // A checkpoint larger than the applied tree (a state being rebuilt from the Raft log, or
        // applies lost with the process and not yet replayed) is not served: receipts under it need
        // leaves the node does not have yet. The tree is signed afresh instead.
        var archived = archive.Latest();
        _latest = archived is null || (ulong)archived.Id > state.TreeSize
            ? new SignedCheckpointText(0, "")
            : new SignedCheckpointText((ulong)archived.Id, archived.Text);
    }

    public SignedCheckpointText Latest => Volatile.Read(ref _latest);

    /// <summary>Called after every apply; cheap and non-blocking.</summary>
    public void NotifyGrown() => _grown.Writer.TryWrite(true);

    /// <summary>True when no published checkpoint covers the applied tree (or none exists yet).</summary>
    public bool IsBehind => _state.TreeSize > Latest.TreeSize || Latest.Text.Length == 0;

    /// <summary>Signs the current tree once now if no checkpoint covers it (startup, including the empty tree); false when it could not.</summary>
    public async Task<bool> SignIfBehindAsync(CancellationToken cancellationToken) =>
        !IsBehind || await TrySignAsync(_state.TreeSize, cancellationToken);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var retry = IsBehind;
        while (!cancellationToken.IsCancellationRequested)
        {
            if (retry)
            {
                await Task.Delay(RetryDelayMs, cancellationToken);
            }
            else
            {
                await _grown.Reader.ReadAsync(cancellationToken);
            }

            retry = false;
            if (IsBehind)
            {
                retry = !await TrySignAsync(_state.TreeSize, cancellationToken);
                if (!retry)
                {
                    await Task.Delay(_minimumIntervalMs, cancellationToken);
                }
            }
        }
    }

    /// <summary>Completes with the first checkpoint whose size is at least <paramref name="treeSize"/>.</summary>
    public async Task<SignedCheckpointText> WaitForSizeAsync(ulong treeSize, CancellationToken cancellationToken)
    {
        while (true)
        {
            var published = Volatile.Read(ref _published);
            var latest = Latest;
            if (latest.TreeSize >= treeSize && latest.Text.Length > 0)
            {
                return latest;
            }

            await published.Task.WaitAsync(cancellationToken);
        }
    }

    /// <summary>Completes with the first checkpoint newer than <paramref name="treeSize"/>.</summary>
    public Task<SignedCheckpointText> WaitForNewerAsync(ulong treeSize, CancellationToken cancellationToken) =>
        WaitForSizeAsync(treeSize + 1, cancellationToken);

    private async Task<bool> TrySignAsync(ulong size, CancellationToken cancellationToken)
    {
        var text = await _sign(size, _state.RootAt(size), cancellationToken);
        if (text is null)
        {
            return false;
        }

        lock (_signLock)
        {
            if (size < Latest.TreeSize || (size == Latest.TreeSize && Latest.Text.Length > 0))
            {
                return true;
            }

            _archive.Save(size, text, _nowMs());
            Volatile.Write(ref _latest, new SignedCheckpointText(size, text));
        }

        var previous = Interlocked.Exchange(ref _published, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        previous.TrySetResult();
        return true;
    }
}
