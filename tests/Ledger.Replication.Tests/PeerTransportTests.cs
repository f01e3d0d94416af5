using Ledger.Consensus;
using Ledger.Sdk;

namespace Ledger.Replication.Tests;

public sealed class PeerTransportTests
{
    private static PeerContext Context(string otherAddress)
    {
        var a = SignerKey.Generate("member-a");
        var b = SignerKey.Generate("member-b");
        var consortium = new Consortium("ledger.test/tls", 2,
            [new ConsortiumMember("member-a", a.Verifier, "https://127.0.0.1:1"), new ConsortiumMember("member-b", b.Verifier, otherAddress)], []);
        return new PeerContext(consortium, a, () => 0, TimeSpan.FromSeconds(30));
    }

    [Theory]
    [InlineData("http://10.0.0.2:7400")]
    [InlineData("http://ledger.example.org:7400")]
    public void Plain_http_to_another_machine_is_refused(string address)
    {
        var error = Assert.Throws<FormatException>(() => new GrpcPeerTransport(Context(address)));
        Assert.Contains("peers off this machine must use https://", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://127.0.0.1:7400")]
    [InlineData("https://10.0.0.2:7400")]
    public async Task Loopback_http_and_any_https_are_accepted(string address)
    {
        await using var transport = new GrpcPeerTransport(Context(address));
        Assert.Equal(0, transport.DroppedMessages);
    }

    [Fact]
    public async Task A_refusal_with_a_higher_term_still_answers_the_waiting_vote_request()
    {
        var router = new VoteResponseRouter();
        var waiter = router.Register(candidate: 7, MessageKind.VoteResponse)!;
        var replaced = router.Register(candidate: 7, MessageKind.VoteResponse)!;
        router.Unregister(7, MessageKind.VoteResponse, waiter);
        Assert.True(router.TryComplete(new Message { Kind = MessageKind.VoteResponse, To = 7, Term = 99, Reject = true }));
        Assert.True(replaced.Task.IsCompletedSuccessfully);
        Assert.Equal(99UL, (await replaced.Task).Term);
        Assert.False(waiter.Task.IsCompleted);
    }
}
