using System.Collections.Concurrent;
using System.Security.Cryptography;
using CsCheck;
using Google.Protobuf;
using Grpc.Core;
using Ledger.Hostile.Tests.Support;
using Ledger.Replication.Protos;
using Ledger.Sdk;
using Xunit.Abstractions;

namespace Ledger.Hostile.Tests;

/// <summary>
/// The member-to-member API of a three-member consortium under attack: random and mutated messages on every
/// peer RPC, a non-member with a plausible configuration, and a member's valid handshake carrying messages it
/// may not send. Every call is refused with a precise status; terms, leader and ledger stay as they were.
/// </summary>
[Collection(ConsortiumGroup.Name)]
public sealed class PeerApiTests(ConsortiumFixture fixture, ITestOutputHelper output)
{
    private const int Samples = 60;

    public static TheoryData<string> PeerMethods => [.. PeerHeaders.Methods.Select(m => m.Method)];

    [Fact]
    public void Every_peer_rpc_of_the_service_is_covered() =>
        Assert.Equal(
            Ledger.Replication.Protos.Peer.Descriptor.Methods.Select(m => m.Name).Order(StringComparer.Ordinal),
            PeerHeaders.Methods.Select(m => m.Method).Order(StringComparer.Ordinal));

    [Theory]
    [MemberData(nameof(PeerMethods))]
    public async Task Random_and_mutated_messages_without_a_handshake_are_refused(string method)
    {
        var ledger = fixture.Ledger;
        await ledger.RunAsync(TimeSpan.FromSeconds(90), async token =>
        {
            var (before, residents) = await ObserveAsync(ledger, token);
            var type = PeerHeaders.Methods.Single(m => m.Method == method).Type;
            var parser = Parser(method);
            var valid = ValidBodies(method);
            var target = ledger.Count - 1;
            var seen = new ConcurrentDictionary<StatusCode, int>();
            async Task CheckAsync(byte[] body)
            {
                var end = await Wire.CallAsync(ledger.Channel(target), PeerHeaders.Service, method, type, body);
                var what = $"{method} with {Convert.ToHexStringLower(body)}: {end}";
                Assert.False(end.Reset, what);
                // No handshake: refused before anything is looked at, or the body is not a message at all.
                var expected = type == MethodType.DuplexStreaming || PublicApiFuzzTests.Parses(parser, body)
                    ? StatusCode.Unauthenticated
                    : PublicApiFuzzTests.NotAMessage;
                Assert.True(end.Status == expected, what);
                seen.AddOrUpdate(end.Status!.Value, 1, (_, n) => n + 1);
            }

            await Mutations.RandomBody.SampleAsync(CheckAsync, iter: Samples, threads: 2);
            await Mutations.Of(valid).SampleAsync(mutated => CheckAsync(mutated.Body), iter: Samples, threads: 2);
            output.WriteLine($"{method}: " + string.Join(", ", seen.OrderBy(p => p.Key).Select(p => $"{p.Key} x{p.Value}")));
            await AssertUnchangedAsync(ledger, before, residents, token);
        });
    }

    [Fact]
    public async Task A_non_member_with_a_plausible_configuration_is_refused_on_every_peer_rpc()
    {
        var ledger = fixture.Ledger;
        await ledger.RunAsync(TimeSpan.FromSeconds(90), async token =>
        {
            var (before, residents) = await ObserveAsync(ledger, token);

            // Its own files, as an operator would set it up: a key (0600) and a consortium file with the real
            // origin, issuers and members, plus itself. One under a fresh name, one under a real member's name.
            var outsiders = new[] { SignerKey.Generate("member-x"), SignerKey.Generate(ledger.MemberKeys[^1].Name) };
            foreach (var outsider in outsiders)
            {
                var folder = Path.Combine(ledger.DirectoryPath, "outsider-" + outsider.Name + "-" + outsider.Verifier.Id);
                Directory.CreateDirectory(folder);
                outsider.Save(Path.Combine(folder, "member.key"));
                var members = ledger.Consortium.Members.Where(m => m.Id != outsider.Name)
                    .Append(new ConsortiumMember(outsider.Name, outsider.Verifier, "http://127.0.0.1:1")).ToArray();
                File.WriteAllText(Path.Combine(folder, "consortium.json"),
                    new Consortium(ledger.Consortium.Origin, Consortium.MajorityOf(members.Length), members, ledger.Consortium.Issuers).ToJson());

                for (var target = 0; target < ledger.Count; target++)
                {
                    var targetName = ledger.MemberKeys[target].Name;
                    foreach (var (method, type) in PeerHeaders.Methods)
                    {
                        var body = ValidBodies(method)[0];
                        var end = await Wire.CallAsync(ledger.Channel(target), PeerHeaders.Service, method, type, body,
                            PeerHeaders.Caller(outsider, ledger.Consortium.Origin, targetName));
                        output.WriteLine($"{outsider.Name} (own key) -> {targetName} {method}: {end}");
                        Assert.Equal(StatusCode.Unauthenticated, end.Status);
                        Assert.Contains(outsider.Name == "member-x" ? "is not a member" : "does not verify", end.Detail, StringComparison.Ordinal);
                    }
                }
            }

            await AssertUnchangedAsync(ledger, before, residents, token);
        });
    }

    [Fact]
    public async Task A_member_handshake_does_not_let_it_speak_for_another_member_or_cosign_garbage()
    {
        var ledger = fixture.Ledger;
        await ledger.RunAsync(TimeSpan.FromSeconds(90), async token =>
        {
            var (before, residents) = await ObserveAsync(ledger, token);
            var caller = ledger.MemberKeys[0];
            var target = ledger.Count - 1;
            var targetName = ledger.MemberKeys[target].Name;
            Metadata Auth() => PeerHeaders.Caller(caller, ledger.Consortium.Origin, targetName);

            // A pre-vote claiming to come from someone else.
            var forged = new RaftMessage { Kind = 5, From = 12345, To = 67890, Term = 1_000_000 }.ToByteArray();
            var end = await Wire.CallAsync(ledger.Channel(target), PeerHeaders.Service, "RequestVote", MethodType.Unary, forged, Auth());
            Assert.Equal(StatusCode.PermissionDenied, end.Status);
            end = await Wire.CallAsync(ledger.Channel(target), PeerHeaders.Service, "Replicate", MethodType.DuplexStreaming, forged, Auth());
            Assert.Equal(StatusCode.PermissionDenied, end.Status);

            // The same handshake twice: a replayed header is refused.
            var header = Auth();
            var hello = new Ack().ToByteArray();
            Assert.Equal(StatusCode.OK, (await Wire.CallAsync(ledger.Channel(target), PeerHeaders.Service, "Hello", MethodType.Unary, hello, header)).Status);
            end = await Wire.CallAsync(ledger.Channel(target), PeerHeaders.Service, "Hello", MethodType.Unary, hello, header);
            Assert.Equal(StatusCode.Unauthenticated, end.Status);
            Assert.Contains("already used", end.Detail, StringComparison.Ordinal);

            // Checkpoint bodies that are not this ledger's, or not checkpoints: never signed.
            var cosigned = 0;
            await Gen.String[0, 300].SampleAsync(async text =>
            {
                var bodies = new[] { text, $"{ledger.Consortium.Origin}\n{text}", $"{ledger.Consortium.Origin}\n1\n{text}\n" };
                foreach (var body in bodies)
                {
                    var request = new CosignRequest { CheckpointBody = body }.ToByteArray();
                    var answer = await Wire.CallAsync(ledger.Channel(target), PeerHeaders.Service, "Cosign", MethodType.Unary, request, Auth());
                    Assert.True(answer.Status is StatusCode.InvalidArgument or StatusCode.OK, $"{body}: {answer}");
                    if (answer.Status == StatusCode.OK)
                    {
                        Interlocked.Increment(ref cosigned);
                    }
                }
            }, iter: Samples, threads: 2);
            output.WriteLine($"cosign answers with OK (a refusal inside the answer, or a signature): {cosigned}");

            await AssertUnchangedAsync(ledger, before, residents, token);
        });
    }

    /// <summary>Leader, each member's term and the ledger, and each member's resident memory.</summary>
    private static async Task<((string Leader, ulong[] Terms, LedgerSnapshot Snapshot) State, long[] Residents)> ObserveAsync(HostileLedger ledger, CancellationToken cancellationToken)
    {
        var residents = Enumerable.Range(0, ledger.Count).Select(i => ledger.Node(i).ResidentBytes()).ToArray();
        return (await StateAsync(ledger, cancellationToken), residents);
    }

    private static async Task<(string Leader, ulong[] Terms, LedgerSnapshot Snapshot)> StateAsync(HostileLedger ledger, CancellationToken cancellationToken)
    {
        var leader = ledger.MemberKeys[await ledger.WaitForLeaderAsync(Enumerable.Range(0, ledger.Count), cancellationToken)].Name;
        var terms = new ulong[ledger.Count];
        for (var i = 0; i < ledger.Count; i++)
        {
            var status = await ledger.Client(i).GetStatusAsync(cancellationToken);
            terms[i] = status.Members.Single(m => m.Id == ledger.MemberKeys[i].Name).Term;
        }

        return (leader, terms, await ledger.SnapshotAsync(0, cancellationToken));
    }

    private static async Task AssertUnchangedAsync(
        HostileLedger ledger, (string Leader, ulong[] Terms, LedgerSnapshot Snapshot) before, long[] residents, CancellationToken cancellationToken)
    {
        var after = await StateAsync(ledger, cancellationToken);
        Assert.Equal(before.Leader, after.Leader);
        Assert.Equal(before.Terms, after.Terms);
        Assert.Equal(before.Snapshot, after.Snapshot);
        for (var i = 0; i < ledger.Count; i++)
        {
            await ledger.AssertStillServingAsync(i, residents[i], cancellationToken);
        }
    }

    private static MessageParser Parser(string method) => method switch
    {
        "Cosign" => CosignRequest.Parser,
        "ReadIndex" => ReadIndexRequest.Parser,
        "Hello" or "RaftState" => Ack.Parser,
        _ => RaftMessage.Parser,
    };

    private static byte[][] ValidBodies(string method) => method switch
    {
        "Cosign" => [new CosignRequest { CheckpointBody = "test.ledger/x\n1\n" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) + "\n" }.ToByteArray()],
        "ReadIndex" => [new ReadIndexRequest().ToByteArray()],
        "Hello" or "RaftState" => [new Ack().ToByteArray()],
        "TimeoutNow" => [new RaftMessage { Kind = 13, From = 1, To = 2, Term = 99 }.ToByteArray()],
        _ => [new RaftMessage { Kind = 5, From = 1, To = 2, Term = 99, Index = 10, LogTerm = 3 }.ToByteArray(),
              new RaftMessage { Kind = 1, From = 1, To = 2, Term = 99, Entries = { new RaftEntry { Term = 99, Index = 11, Data = ByteString.CopyFrom(RandomNumberGenerator.GetBytes(40)) } } }.ToByteArray()],
    };
}
