using Ledger.Replication;
using LedgerApi = Ledger.Sdk.Protos.V1.Ledger;

namespace Ledger.Node.Replicated;

/// <summary>One public-API client per other member at its current address (one HTTP/2 connection each).</summary>
internal sealed class MemberClients(Func<string, string?> addressOf, int messageBytesMax) : IDisposable
{
    private readonly ChannelCache _channels = new(options =>
    {
        options.MaxSendMessageSize = messageBytesMax;
        options.MaxReceiveMessageSize = 64 * 1024 * 1024;
    });

    /// <summary>The client for member <paramref name="memberId"/>, or null while no address is known for it.</summary>
    public LedgerApi.LedgerClient? For(string memberId) =>
        addressOf(memberId) is { } address ? new LedgerApi.LedgerClient(_channels.For(address)) : null;

    public void Dispose() => _channels.Dispose();
}
