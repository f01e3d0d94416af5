using System.Security.Cryptography;
using Grpc.Core;
using Ledger.Hostile.Tests.Support;
using Ledger.Sdk;
using Ledger.Sdk.Client;
using Ledger.Sdk.Protos.V1;

namespace Ledger.Hostile.Tests;

/// <summary>
/// Anchor requests that were valid once or elsewhere: a replay of an accepted request (same nonce), and
/// requests signed for another ledger's origin. Refused with the statuses ledger.proto documents; nothing written.
/// </summary>
[Collection(SingleNodeGroup.Name)]
public sealed class ReplayTests(SingleNodeFixture fixture)
{
    [Fact]
    public async Task A_replayed_anchor_request_is_refused_with_already_exists_and_writes_nothing()
    {
        var ledger = fixture.Ledger;
        await ledger.RunAsync(TimeSpan.FromSeconds(60), async token =>
        {
            var residentBefore = ledger.Node(0).ResidentBytes();
            var api = new Sdk.Protos.V1.Ledger.LedgerClient(ledger.Channel(0));
            var request = LedgerClient.BuildAnchorRequest(ledger.Consortium.Origin, ledger.Issuer, [RandomNumberGenerator.GetBytes(32), RandomNumberGenerator.GetBytes(32)], includeReceipts: false);
            var accepted = await api.AnchorAsync(request, cancellationToken: token);
            Assert.Equal(2, accepted.LeafIndices.Count);
            var before = await ledger.SnapshotAsync(0, token);

            // The same bytes again, many times and concurrently, and with only the unsigned flag changed.
            var replays = Enumerable.Range(0, 20).Select(_ => api.AnchorAsync(request, cancellationToken: token).ResponseAsync)
                .Append(api.AnchorAsync(new AnchorRequest(request) { IncludeReceipts = true }, cancellationToken: token).ResponseAsync);
            foreach (var replay in replays)
            {
                var refused = await Assert.ThrowsAsync<RpcException>(() => replay);
                Assert.Equal(StatusCode.AlreadyExists, refused.StatusCode);
                Assert.Contains("nonce", refused.Status.Detail, StringComparison.OrdinalIgnoreCase);
            }

            Assert.Equal(before, await ledger.SnapshotAsync(0, token));
            await ledger.AssertStillServingAsync(0, residentBefore, token);
        });
    }

    [Fact]
    public async Task An_anchor_request_signed_for_another_ledger_is_refused_as_unauthenticated_and_writes_nothing()
    {
        var ledger = fixture.Ledger;
        await ledger.RunAsync(TimeSpan.FromSeconds(60), async token =>
        {
            var residentBefore = ledger.Node(0).ResidentBytes();
            var before = await ledger.SnapshotAsync(0, token);
            var api = new Sdk.Protos.V1.Ledger.LedgerClient(ledger.Channel(0));
            var digest = RandomNumberGenerator.GetBytes(32);
            string[] otherOrigins = ["test.ledger/another", ledger.Consortium.Origin + "x", ledger.Consortium.Origin.ToUpperInvariant()];
            foreach (var origin in otherOrigins)
            {
                // Signed by the right issuer key, for another ledger: a request captured there and sent here.
                var request = LedgerClient.BuildAnchorRequest(origin, ledger.Issuer, [digest], includeReceipts: false);
                var refused = await Assert.ThrowsAsync<RpcException>(() => api.AnchorAsync(request, cancellationToken: token).ResponseAsync);
                Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);
                Assert.Contains("signature does not verify", refused.Status.Detail, StringComparison.Ordinal);
            }

            // An issuer of another ledger, under a name this ledger does not know, and under this issuer's name.
            foreach (var stranger in new[] { SignerKey.Generate("issuer-elsewhere"), SignerKey.Generate(ledger.Issuer.Name) })
            {
                var request = LedgerClient.BuildAnchorRequest(ledger.Consortium.Origin, stranger, [digest], includeReceipts: false);
                var refused = await Assert.ThrowsAsync<RpcException>(() => api.AnchorAsync(request, cancellationToken: token).ResponseAsync);
                Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);
            }

            Assert.Null(await ledger.Client(0).GetReceiptAsync(digest, cancellationToken: token));
            Assert.Equal(before, await ledger.SnapshotAsync(0, token));
            await ledger.AssertStillServingAsync(0, residentBefore, token);
        });
    }
}
