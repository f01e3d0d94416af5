using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Ledger.Hostile.Tests.Support;
using Ledger.Sdk.Protos.V1;
using Google.Protobuf;
using Xunit.Abstractions;

namespace Ledger.Hostile.Tests;

/// <summary>
/// Broken gRPC framing and bytes that are not HTTP/2 at all, on a single-member ledger: a precise status
/// or a closed connection, nothing written, the node serves on within a memory bound.
/// </summary>
[Collection(SingleNodeGroup.Name)]
public sealed class FramingTests(SingleNodeFixture fixture, ITestOutputHelper output)
{
    private const string AnchorPath = "/ledger.v1.Ledger/Anchor";
    private const string StatusPath = "/ledger.v1.Ledger/GetStatus";
    private static readonly TimeSpan CloseWait = TimeSpan.FromSeconds(15);

    public static TheoryData<string, StatusCode?> Frames => new()
    {
        { "truncated: 100 bytes announced, 10 sent", StatusCode.Internal },
        // Refused by the node's request body budget before grpc-dotnet reads it (which would answer UNKNOWN).
        { "length prefix of 4 GiB", StatusCode.ResourceExhausted },
        { "a 5 MiB message (the maximum is 4 MiB)", StatusCode.ResourceExhausted },
        // Past Kestrel's request body limit (2 x the message limit) Kestrel itself answers HTTP 413 (no grpc-status).
        { "a 9 MiB message (beyond the request body limit)", null },
        { "compressed flag without grpc-encoding", StatusCode.Internal },
        { "two messages on a unary call", StatusCode.Internal },
        { "no message at all", StatusCode.Internal },
        { "a frame header cut in half", StatusCode.Internal },
    };

    [Theory]
    [MemberData(nameof(Frames))]
    public async Task Broken_grpc_frames_end_with_a_precise_status(string frame, StatusCode? expected)
    {
        var ledger = fixture.Ledger;
        await ledger.RunAsync(TimeSpan.FromSeconds(60), async token =>
        {
            var residentBefore = ledger.Node(0).ResidentBytes();
            var before = await ledger.SnapshotAsync(0, token);
            var message = Sdk.Client.LedgerClient.BuildAnchorRequest(ledger.Consortium.Origin, ledger.Issuer, [RandomNumberGenerator.GetBytes(32)], includeReceipts: false).ToByteArray();
            byte[] body = frame switch
            {
                "truncated: 100 bytes announced, 10 sent" => Wire.Frame(message[..10], declaredLength: 100),
                "length prefix of 4 GiB" => Wire.Frame(message, declaredLength: uint.MaxValue),
                "a 5 MiB message (the maximum is 4 MiB)" => Wire.Frame(new byte[5 * 1024 * 1024]),
                "a 9 MiB message (beyond the request body limit)" => Wire.Frame(new byte[9 * 1024 * 1024]),
                "compressed flag without grpc-encoding" => Wire.Frame(message, compressedFlag: 1),
                "two messages on a unary call" => [.. Wire.Frame(message), .. Wire.Frame(message)],
                "no message at all" => [],
                _ => Wire.Frame(message)[..3],
            };
            var end = await Wire.PostAsync(ledger.Addresses[0], AnchorPath, new ByteArrayContent(body), token);
            output.WriteLine($"{frame}: {end}");
            Assert.Equal(expected, end.Status);
            if (expected is null)
            {
                Assert.Contains("HTTP 413", end.Detail, StringComparison.Ordinal);
            }

            Assert.Equal(before, await ledger.SnapshotAsync(0, token));
            await ledger.AssertStillServingAsync(0, residentBefore, token);
        });
    }

    public static TheoryData<string> NotGrpc =>
    [
        "random bytes",
        "an HTTP/1.1 request",
        "an HTTP/1.1 request with a gRPC body",
        "the HTTP/2 preface, then random bytes",
        "the HTTP/2 preface, then headers that are not HPACK",
        "the HTTP/2 preface, then a frame claiming 16 MiB",
    ];

    [Theory]
    [MemberData(nameof(NotGrpc))]
    public async Task Bytes_that_are_not_grpc_over_http2_get_the_connection_closed(string bytes)
    {
        var ledger = fixture.Ledger;
        await ledger.RunAsync(TimeSpan.FromSeconds(60), async token =>
        {
            var residentBefore = ledger.Node(0).ResidentBytes();
            var before = await ledger.SnapshotAsync(0, token);
            var settings = Wire.Http2Frame(0x4, 0, 0, []);
            byte[] payload = bytes switch
            {
                "random bytes" => RandomNumberGenerator.GetBytes(4096),
                "an HTTP/1.1 request" => Encoding.ASCII.GetBytes($"GET /ledger.v1.Ledger/GetStatus HTTP/1.1\r\nHost: 127.0.0.1:{ledger.Port(0)}\r\n\r\n"),
                "an HTTP/1.1 request with a gRPC body" => [.. Encoding.ASCII.GetBytes(
                    $"POST {StatusPath} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/grpc\r\nContent-Length: 5\r\n\r\n"), .. Wire.Frame([])],
                "the HTTP/2 preface, then random bytes" => [.. Wire.Http2Preface, .. RandomNumberGenerator.GetBytes(4096)],
                "the HTTP/2 preface, then headers that are not HPACK" =>
                    [.. Wire.Http2Preface, .. settings, .. Wire.Http2Frame(0x1, 0x4, 1, RandomNumberGenerator.GetBytes(200))],
                _ => [.. Wire.Http2Preface, .. settings, .. Wire.Http2Frame(0x0, 0, 1, [])[..3].Select((_, i) => i == 0 ? (byte)0xFF : (byte)0xFF), .. new byte[] { 0x0, 0x0, 0x0, 0x0, 0x0, 0x1 }],
            };
            var (received, closed) = await Wire.RawAsync(ledger.Port(0), payload, CloseWait);
            var goAway = Wire.GoAwayError(received);
            output.WriteLine($"{bytes}: closed {closed}, {received.Length} bytes back, GOAWAY {goAway?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}");
            Assert.True(closed, $"{bytes}: the node kept the connection open");
            if (bytes.StartsWith("the HTTP/2 preface", StringComparison.Ordinal))
            {
                // An HTTP/2 peer is told why: a GOAWAY with an error code (PROTOCOL_ERROR, FRAME_SIZE_ERROR, COMPRESSION_ERROR).
                Assert.NotNull(goAway);
                Assert.NotEqual(0u, goAway);
            }

            Assert.Equal(before, await ledger.SnapshotAsync(0, token));
            await ledger.AssertStillServingAsync(0, residentBefore, token);
        });
    }
}
