namespace Ledger.Consensus;

/// <summary>
/// Checks for programmer errors. Stays on in Release: a broken invariant in consensus code must stop
/// the process rather than corrupt a replicated log.
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

    /// <summary>Throws <see cref="InvariantException"/> unconditionally.</summary>
    public static void Fail(string message) => throw new InvariantException(message);
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
