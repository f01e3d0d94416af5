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

/// <summary>
/// A <see cref="LogBudget"/> per source (for refused peer calls: the member name the caller claims),
/// so that one noisy source cannot use up the lines that would show another. The first
/// <c>sourcesMax</c> sources get a budget each; any further source shares one more, so that claiming
/// ever new names costs no more memory and logs no more lines than that.
/// </summary>
internal sealed class KeyedLogBudget(int linesMax, TimeSpan window, int sourcesMax)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, LogBudget> _budgets = new(StringComparer.Ordinal);
    private readonly LogBudget _others = new(linesMax, window);

    /// <summary>Sources longer than this are cut to it before they key a budget.</summary>
    public const int SourceLengthMax = 64;

    /// <summary>As <see cref="LogBudget.TryTake"/>, counted against <paramref name="source"/>'s budget.</summary>
    public bool TryTake(string source, out int heldBack)
    {
        if (source.Length > SourceLengthMax)
        {
            source = source[..SourceLengthMax];
        }

        LogBudget budget;
        lock (_gate)
        {
            if (!_budgets.TryGetValue(source, out budget!))
            {
                budget = _budgets.Count < sourcesMax ? _budgets[source] = new LogBudget(linesMax, window) : _others;
            }
        }

        return budget.TryTake(out heldBack);
    }
}
