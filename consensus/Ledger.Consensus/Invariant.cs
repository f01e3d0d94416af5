using System.Runtime.CompilerServices;

namespace Ledger.Consensus;

/// <summary>
/// Checks for programmer errors. Stays on in Release: a broken invariant in consensus code must stop
/// the process rather than corrupt a replicated log. Interpolated messages are formatted only when
/// the check fails, so checks cost nothing on the hot path.
/// </summary>
internal static class Invariant
{
    /// <summary>Throws <see cref="InvariantException"/> when <paramref name="condition"/> is false.</summary>
    public static void Check(bool condition, string message)
    {
        if (!condition)
        {
            Fail(message);
        }
    }

    /// <summary>Throws <see cref="InvariantException"/> when <paramref name="condition"/> is false.</summary>
    public static void Check(bool condition, [InterpolatedStringHandlerArgument(nameof(condition))] ref InvariantMessage message)
    {
        if (!condition)
        {
            Fail(message.ToStringAndClear());
        }
    }

    /// <summary>Throws <see cref="InvariantException"/> unconditionally.</summary>
    public static void Fail(string message) => throw new InvariantException(message);
}

/// <summary>Formats an invariant's message only when the invariant is broken.</summary>
[InterpolatedStringHandler]
internal ref struct InvariantMessage
{
    private readonly bool _enabled;
    private DefaultInterpolatedStringHandler _inner;

    public InvariantMessage(int literalLength, int formattedCount, bool condition, out bool shouldAppend)
    {
        _enabled = !condition;
        shouldAppend = _enabled;
        _inner = _enabled ? new DefaultInterpolatedStringHandler(literalLength, formattedCount) : default;
    }

    public void AppendLiteral(string value) => _inner.AppendLiteral(value);

    public void AppendFormatted<T>(T value) => _inner.AppendFormatted(value);

    public string ToStringAndClear() => _enabled ? _inner.ToStringAndClear() : string.Empty;
}

/// <summary>A broken invariant of the Raft core: a bug, never an operating error.</summary>
public sealed class InvariantException : Exception
{
    /// <summary>Creates the exception.</summary>
    public InvariantException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public InvariantException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public InvariantException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
