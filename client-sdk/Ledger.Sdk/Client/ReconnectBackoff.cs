using Grpc.Net.Client;

namespace Ledger.Sdk.Client;

/// <summary>
/// How soon a gRPC channel connects again to an address that refused or did not answer. gRPC's default
/// backoff starts at 1 s and grows to 2 minutes while connects fail, and calls fail at once meanwhile:
/// through a channel without a connect timeout (the SDK's), a node back from some minutes down would be
/// refused calls for up to two more. The SDK's channels and the members' channels to each other cap it
/// at <see cref="Max"/>; the members' channels also end each cycle of failed connects at their 3 s connect timeout.
/// </summary>
internal static class ReconnectBackoff
{
    /// <summary>Wait before the first connect again.</summary>
    public static readonly TimeSpan Initial = TimeSpan.FromMilliseconds(100);

    /// <summary>Longest wait between two connects.</summary>
    public static readonly TimeSpan Max = TimeSpan.FromSeconds(1);

    /// <summary>Sets the backoff of <paramref name="options"/>; returns them.</summary>
    public static GrpcChannelOptions Apply(GrpcChannelOptions options)
    {
        options.InitialReconnectBackoff = Initial;
        options.MaxReconnectBackoff = Max;
        return options;
    }
}
