namespace Ledger.Replication;

/// <summary>
/// At most <c>linesMax</c> log lines per <c>window</c>: events that anyone outside can cause at will
/// (a refused call) are logged without letting a flood of them flood the log. Counts what it held back.
/// </summary>
internal sealed class LogBudget(int linesMax, TimeSpan window)
{
    private readonly Lock _gate = new();
    private DateTime _windowEnd = DateTime.MinValue;
    private int _used;
    private int _heldBack;

    /// <summary>True when a line may be logged now; <paramref name="heldBack"/> says how many were not since the last one that was.</summary>
    public bool TryTake(out int heldBack)
    {
        lock (_gate)
        {
            var now = DateTime.UtcNow;
            if (now >= _windowEnd)
            {
                _windowEnd = now + window;
                _used = 0;
            }

            if (_used < linesMax)
            {
                _used++;
                heldBack = _heldBack;
                _heldBack = 0;
                return true;
            }

            _heldBack++;
            heldBack = 0;
            return false;
        }
    }
}
