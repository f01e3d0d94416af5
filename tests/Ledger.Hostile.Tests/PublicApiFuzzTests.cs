using System.Collections.Concurrent;
using System.Security.Cryptography;
using CsCheck;
using Google.Protobuf;
using Grpc.Core;
using Ledger.Hostile.Tests.Support;
using Ledger.Sdk.Client;
using Ledger.Sdk.Protos.V1;
using Xunit.Abstractions;

namespace Ledger.Hostile.Tests;

/// <summary>
/// Random and mutated protobuf messages on every public RPC of a single-member ledger: every call ends
/// with a precise status (never UNKNOWN, which would be an unhandled exception), no anchor is accepted,
/// the ledger is unchanged, the node still serves and its memory stays bounded.
/// </summary>
[Collection(SingleNodeGroup.Name)]
public sealed class PublicApiFuzzTests(SingleNodeFixture fixture, ITestOutputHelper output)
{
    private const string Service = "ledger.v1.Ledger";
    private const int Samples = 120;

    /// <summary>What a malformed or hostile request may end with on a read.</summary>
    private static readonly StatusCode[] ReadOutcomes =
        [StatusCode.OK, StatusCode.InvalidArgument, StatusCode.NotFound, StatusCode.Internal, StatusCode.ResourceExhausted, StatusCode.DeadlineExceeded];

    /// <summary>What a hostile anchor may end with: never OK.</summary>
    private static readonly StatusCode[] AnchorOutcomes =
        [StatusCode.InvalidArgument, StatusCode.Unauthenticated, StatusCode.AlreadyExists, StatusCode.FailedPrecondition, StatusCode.Internal, StatusCode.ResourceExhausted];

    /// <summary>The status a body that does not parse as the request message ends with.</summary>
    internal static readonly StatusCode NotAMessage = StatusCode.InvalidArgument;

    private static readonly Dictionary<string, MessageParser> Parsers = new(StringComparer.Ordinal)
    {
        ["Anchor"] = AnchorRequest.Parser,
        ["GetReceipt"] = GetReceiptRequest.Parser,
        ["GetReceipts"] = GetReceiptsRequest.Parser,
        ["GetCheckpoint"] = GetCheckpointRequest.Parser,
        ["GetConsistencyProof"] = GetConsistencyProofRequest.Parser,
        ["GetEntries"] = GetEntriesRequest.Parser,
        ["GetStatus"] = GetStatusRequest.Parser,
        ["WatchCheckpoints"] = WatchCheckpointsRequest.Parser,
    };

    internal static bool Parses(MessageParser parser, byte[] body)
    {
        try
        {
            parser.ParseFrom(body);
            return true;
        }
        catch (InvalidProtocolBufferException)
        {
            return false;
        }
    }

    public static TheoryData<string> Methods => ["Anchor", "GetReceipt", "GetReceipts", "GetCheckpoint", "GetConsistencyProof", "GetEntries", "GetStatus", "WatchCheckpoints"];

    [Theory]
    [MemberData(nameof(Methods))]
    public async Task Random_and_mutated_messages_end_with_a_precise_status_and_change_nothing(string method)
    {
        var ledger = fixture.Ledger;
        await ledger.RunAsync(TimeSpan.FromSeconds(90), async token =>
        {
            var valid = await ValidMessagesAsync(ledger, method, token);
            var residentBefore = ledger.Node(0).ResidentBytes();
            var before = await ledger.SnapshotAsync(0, token);
            var type = method == "WatchCheckpoints" ? MethodType.ServerStreaming : MethodType.Unary;
            var allowed = method == "Anchor" ? AnchorOutcomes : ReadOutcomes;
            var seen = new ConcurrentDictionary<StatusCode, int>();
            var parser = Parsers[method];
            async Task CheckAsync(byte[] body)
            {
                var end = await Wire.CallAsync(ledger.Channel(0), Service, method, type, body);
                var what = $"{method} with {Convert.ToHexStringLower(body)}: {end}";
                Assert.False(end.Reset, what);
                if (Parses(parser, body))
                {
                    Assert.True(allowed.Contains(end.Status!.Value), what);
                }
                else
                {
                    // A body that is not a message of the method's type never reaches the service.
                    Assert.Equal(NotAMessage, end.Status);
                }

                seen.AddOrUpdate(end.Status!.Value, 1, (_, n) => n + 1);
            }

            await Mutations.RandomBody.SampleAsync(CheckAsync, iter: Samples, threads: 2);
            await Mutations.Of(valid).SampleAsync((mutated) => CheckAsync(mutated.Body), iter: Samples, threads: 2);
            output.WriteLine($"{method}: " + string.Join(", ", seen.OrderBy(p => p.Key).Select(p => $"{p.Key} x{p.Value}")));

            Assert.Equal(before, await ledger.SnapshotAsync(0, token));
            await ledger.AssertStillServingAsync(0, residentBefore, token);
            // The flood leaves no stack traces in the node's log (gRPC's own per-call failure log is off).
            Assert.DoesNotContain(ledger.Node(0).Tail(400), line => line.Contains("Exception", StringComparison.Ordinal));
        });
    }

    /// <summary>Valid requests of the method, to mutate. For Anchor: requests already accepted (replays), or signed for another ledger.</summary>
    private static async Task<IReadOnlyList<byte[]>> ValidMessagesAsync(HostileLedger ledger, string method, CancellationToken cancellationToken)
    {
        var anchored = RandomNumberGenerator.GetBytes(32);
        var size = (await ledger.SnapshotAsync(0, cancellationToken)).TreeSize;
        switch (method)
        {
            case "Anchor":
            {
                var accepted = LedgerClient.BuildAnchorRequest(ledger.Consortium.Origin, ledger.Issuer, [anchored, RandomNumberGenerator.GetBytes(32)], includeReceipts: true);
                await new Ledger.Sdk.Protos.V1.Ledger.LedgerClient(ledger.Channel(0)).AnchorAsync(accepted, cancellationToken: cancellationToken);
                var otherLedger = LedgerClient.BuildAnchorRequest("test.ledger/another", ledger.Issuer, [RandomNumberGenerator.GetBytes(32)], includeReceipts: false);
                return [accepted.ToByteArray(), otherLedger.ToByteArray()];
            }

            case "GetReceipt":
                return [new GetReceiptRequest { Digest = ByteString.CopyFrom(anchored), Issuer = ledger.Issuer.Name }.ToByteArray(),
                        new GetReceiptRequest { Digest = ByteString.CopyFrom(anchored), Linearizable = true }.ToByteArray()];
            case "GetReceipts":
            {
                var request = new GetReceiptsRequest { Issuer = ledger.Issuer.Name };
                request.Digests.Add([ByteString.CopyFrom(anchored), ByteString.CopyFrom(RandomNumberGenerator.GetBytes(32))]);
                return [request.ToByteArray()];
            }

            case "GetConsistencyProof":
                return [new GetConsistencyProofRequest { OldSize = 1, NewSize = Math.Max(1, size) }.ToByteArray()];
            case "GetEntries":
                return [new GetEntriesRequest { Start = 0, Count = 10 }.ToByteArray()];
            case "GetStatus":
                return [new GetStatusRequest { LocalOnly = true }.ToByteArray(), new GetStatusRequest().ToByteArray()];
            default:
                // Empty request messages: mutations add fields to nothing.
                return [[]];
        }
    }
}
