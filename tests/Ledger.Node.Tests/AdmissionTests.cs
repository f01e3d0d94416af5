using System.Security.Cryptography;
using Google.Protobuf;
using Grpc.Core;
using Ledger.Node.Tests.Support;
using Ledger.Sdk;
using Ledger.Sdk.Client;
using Ledger.Sdk.Protos.V1;

namespace Ledger.Node.Tests;

/// <summary>Every admission rule of ledger.proto's Anchor, positive and negative, through the real gRPC stack.</summary>
public sealed class AdmissionTests : IAsyncLifetime
{
    private const int DigestsMax = 50;
    private InProcessNode _node = null!;

    public async Task InitializeAsync() =>
        _node = await InProcessNode.StartAsync("--digests-per-request-max", DigestsMax.ToString(System.Globalization.CultureInfo.InvariantCulture), "--message-bytes-max", "65536");

    public async Task DisposeAsync() => await _node.DisposeAsync();

    private static byte[][] FreshDigests(int count) => Enumerable.Range(0, count).Select(_ => RandomNumberGenerator.GetBytes(32)).ToArray();

    private AnchorRequest Signed(SignerKey key, IReadOnlyList<byte[]> digests, byte[]? nonce = null, ulong? issuedAtMs = null, string? origin = null, string? issuer = null)
    {
        nonce ??= RandomNumberGenerator.GetBytes(16);
        var at = issuedAtMs ?? (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var name = issuer ?? key.Name;
        var message = AnchorMessage.Build(origin ?? _node.Origin, name, at, nonce, digests.Select(d => (ReadOnlyMemory<byte>)d).ToArray());
        var request = new AnchorRequest
        {
            Issuer = name,
            IssuedAtMs = at,
            Nonce = ByteString.CopyFrom(nonce),
            Signature = ByteString.CopyFrom(key.Sign(message)),
        };
        request.Digests.AddRange(digests.Select(d => ByteString.CopyFrom(d)));
        return request;
    }

    private async Task<RpcException> RefusedAsync(AnchorRequest request, StatusCode expected, string messagePart)
    {
        var sizeBefore = _node.Host.Node.State.TreeSize;
        var exception = await Assert.ThrowsAsync<RpcException>(async () => await _node.Client.AnchorAsync(request));
        Assert.Equal(expected, exception.StatusCode);
        Assert.Contains(messagePart, exception.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(sizeBefore, _node.Host.Node.State.TreeSize);
        foreach (var digest in request.Digests.Where(d => d.Length == 32))
        {
            var lookup = await Assert.ThrowsAsync<RpcException>(async () => await _node.Client.GetReceiptAsync(new GetReceiptRequest { Digest = digest }));
            Assert.Equal(StatusCode.NotFound, lookup.StatusCode);
        }

        return exception;
    }

    [Fact]
    public async Task A_valid_request_is_anchored_and_its_receipts_verify()
    {
        var digests = FreshDigests(3);
        var request = Signed(_node.IssuerKey, digests);
        request.IncludeReceipts = true;
        var response = await _node.Client.AnchorAsync(request);
        Assert.Equal(3, response.LeafIndices.Count);
        Assert.All(response.Existed, existed => Assert.False(existed));
        Assert.Equal(3, response.LeafIndices.Distinct().Count());
        var verifier = new ReceiptVerifier(_node.Consortium);
        for (var i = 0; i < digests.Length; i++)
        {
            var verification = verifier.Verify(response.Receipts[i], digests[i]);
            Assert.True(verification.IsValid, verification.Reason);
            Assert.Equal(response.LeafIndices[i], verification.Index);
        }
    }

    [Fact]
    public async Task Anchoring_again_returns_the_existing_leaves_and_appends_nothing()
    {
        var digests = FreshDigests(4);
        var first = await _node.Client.AnchorAsync(Signed(_node.IssuerKey, digests));
        var sizeAfterFirst = _node.Host.Node.State.TreeSize;
        var second = await _node.Client.AnchorAsync(Signed(_node.IssuerKey, [digests[2], digests[0], digests[0]]));
        Assert.Equal([first.LeafIndices[2], first.LeafIndices[0], first.LeafIndices[0]], second.LeafIndices);
        Assert.All(second.Existed, existed => Assert.True(existed));
        Assert.Equal(sizeAfterFirst, _node.Host.Node.State.TreeSize);
    }

    [Fact]
    public async Task An_unknown_issuer_is_refused_as_unauthenticated()
    {
        var stranger = SignerKey.Generate("stranger");
        await RefusedAsync(Signed(stranger, FreshDigests(1)), StatusCode.Unauthenticated, "not in the consortium file");
    }

    [Fact]
    public async Task A_bad_signature_is_refused_and_does_not_burn_the_nonce()
    {
        var impostor = SignerKey.Generate(_node.IssuerKey.Name);
        var nonce = RandomNumberGenerator.GetBytes(16);
        var digests = FreshDigests(2);
        await RefusedAsync(Signed(impostor, digests, nonce), StatusCode.Unauthenticated, "signature does not verify");
        var tampered = Signed(_node.IssuerKey, digests);
        tampered.Digests[1] = ByteString.CopyFrom(RandomNumberGenerator.GetBytes(32));
        await RefusedAsync(tampered, StatusCode.Unauthenticated, "signature does not verify");

        var genuine = await _node.Client.AnchorAsync(Signed(_node.IssuerKey, digests, nonce));
        Assert.Equal(2, genuine.LeafIndices.Count);
    }

    [Fact]
    public async Task A_request_signed_for_another_ledger_is_refused()
    {
        await RefusedAsync(Signed(_node.IssuerKey, FreshDigests(1), origin: "other.ledger/x"), StatusCode.Unauthenticated, "signature does not verify");
    }

    [Fact]
    public async Task A_replayed_nonce_is_refused_as_already_exists()
    {
        var request = Signed(_node.IssuerKey, FreshDigests(2));
        await _node.Client.AnchorAsync(request);
        var replay = await Assert.ThrowsAsync<RpcException>(async () => await _node.Client.AnchorAsync(request));
        Assert.Equal(StatusCode.AlreadyExists, replay.StatusCode);
        Assert.Contains("replay", replay.Status.Detail, StringComparison.Ordinal);

        var nonce = request.Nonce.ToByteArray();
        await RefusedAsync(Signed(_node.IssuerKey, FreshDigests(1), nonce), StatusCode.AlreadyExists, "already used");
    }

    [Fact]
    public async Task A_request_without_digests_is_refused()
    {
        await RefusedAsync(Signed(_node.IssuerKey, []), StatusCode.InvalidArgument, "no digests");
    }

    [Fact]
    public async Task More_digests_than_the_maximum_are_refused_and_the_maximum_is_accepted()
    {
        await RefusedAsync(Signed(_node.IssuerKey, FreshDigests(DigestsMax + 1)), StatusCode.InvalidArgument, $"maximum of {DigestsMax}");
        var response = await _node.Client.AnchorAsync(Signed(_node.IssuerKey, FreshDigests(DigestsMax)));
        Assert.Equal(DigestsMax, response.LeafIndices.Count);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(31)]
    [InlineData(33)]
    [InlineData(64)]
    public async Task A_digest_that_is_not_32_bytes_is_refused(int length)
    {
        byte[][] digests = [RandomNumberGenerator.GetBytes(32), RandomNumberGenerator.GetBytes(length)];
        var request = Signed(_node.IssuerKey, [digests[0], new byte[32]]);
        request.Digests[1] = ByteString.CopyFrom(digests[1]);
        await RefusedAsync(request, StatusCode.InvalidArgument, $"digest #1 has {length} bytes");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(15)]
    [InlineData(33)]
    public async Task A_nonce_of_the_wrong_length_is_refused(int length)
    {
        await RefusedAsync(Signed(_node.IssuerKey, FreshDigests(1), new byte[length]), StatusCode.InvalidArgument, "nonce");
    }

    [Fact]
    public async Task A_request_issued_outside_the_nonce_window_is_refused()
    {
        var hourAgo = (ulong)DateTimeOffset.UtcNow.AddHours(-1).ToUnixTimeMilliseconds();
        await RefusedAsync(Signed(_node.IssuerKey, FreshDigests(1), issuedAtMs: hourAgo), StatusCode.FailedPrecondition, "check the issuer's clock");
        var hourAhead = (ulong)DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds();
        await RefusedAsync(Signed(_node.IssuerKey, FreshDigests(1), issuedAtMs: hourAhead), StatusCode.FailedPrecondition, "window");
    }

    [Fact]
    public async Task An_oversized_message_is_refused_as_resource_exhausted()
    {
        var request = Signed(_node.IssuerKey, FreshDigests(DigestsMax));
        request.Issuer = new string('x', 70_000);
        var exception = await Assert.ThrowsAsync<RpcException>(async () => await _node.Client.AnchorAsync(request));
        Assert.Equal(StatusCode.ResourceExhausted, exception.StatusCode);
        // Refused from the frame header, before the body is read (NodeHost, RequestBodyBudget).
        Assert.Contains("more than this node's maximum", exception.Status.Detail, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_short_signature_is_refused()
    {
        var request = Signed(_node.IssuerKey, FreshDigests(1));
        request.Signature = ByteString.CopyFrom(new byte[10]);
        await RefusedAsync(request, StatusCode.InvalidArgument, "signature has 10 bytes");
    }
}
