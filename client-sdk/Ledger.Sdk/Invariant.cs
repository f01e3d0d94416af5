using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Ledger.Sdk;

/// <summary>
/// Assertions for programmer errors that stay on in Release builds. An operating error (bad input,
/// a full disk, a peer that lies) is never an invariant: it gets a typed result or a status instead.
/// </summary>
internal static class Invariant
{
    public static void Check(
        [DoesNotReturnIf(false)] bool condition,
        [CallerArgumentExpression(nameof(condition))] string? expression = null)
    {
        if (!condition)
        {
            Fail(expression);
        }
    }

    [DoesNotReturn]
    private static void Fail(string? expression) =>
        throw new InvalidOperationException($"invariant violated: {expression}");
}
