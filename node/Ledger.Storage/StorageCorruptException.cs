namespace Ledger.Storage;

/// <summary>
/// Data the store must hold is missing or malformed (a deleted or truncated tile, a size record of
/// the wrong length). Not retryable: the node stops and the operator restores or resyncs the store.
/// </summary>
public sealed class StorageCorruptException : Exception
{
    public StorageCorruptException()
    {
    }

    public StorageCorruptException(string message)
        : base(message)
    {
    }

    public StorageCorruptException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
