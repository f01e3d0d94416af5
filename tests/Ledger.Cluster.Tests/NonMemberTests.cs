using System.Security.Cryptography;
using Grpc.Core;
using Ledger.Cluster.Tests.Support;
using Ledger.Sdk;
using Ledger.Sdk.Client;
using Ledger.TestKit;
using Xunit.Abstractions;

namespace Ledger.Cluster.Tests;

/// <summary>
/// Nodes that are not members, each with a well-formed consortium file of its own that points at the
/// real members: one under a real member's name with another key, one under a fresh name. The real
/// consortium goes on as if they were not there.
/// </summary>
public sealed class NonMemberTests(ITestOutputHelper output)
{
    private static readonly TimeSpan PhaseTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ImpostorsRunFor = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task Impostors_pointing_at_the_members_neither_lead_nor_disturb_the_real_consortium()
    {
        await using var cluster = await LedgerCluster.StartAsync(memberCount: 3, issuerCount: 1, CancellationToken.None);
        await cluster.RunAsync(TimeSpan.FromSeconds(120), async token =>
        {
            var everyone = Enumerable.Range(0, cluster.Count).ToArray();
            var leader = await cluster.WaitForLeaderAsync(everyone, LedgerCluster.LeaderTimeout, token);
            var terms = await TermsAsync(cluster, token);
            Assert.Single(terms.Distinct());

            var ports = LoopbackPorts.Free(2);
            var sameName = StartImpostor(cluster, SignerKey.Generate(cluster.MemberIds[2]), ports[0], replaces: cluster.MemberIds[2]);
            var freshName = StartImpostor(cluster, SignerKey.Generate("member-x"), ports[1], replaces: null);
            await Task.WhenAll(
                sameName.Node.WaitForLineAsync("listening on", LedgerCluster.StartTimeout, token),
                freshName.Node.WaitForLineAsync("listening on", LedgerCluster.StartTimeout, token));

            // While the impostors run (and try to reach the members), the real consortium anchors and is watched.
            var load = new AnchorLoad();
            var leadersSeen = new HashSet<string>(StringComparer.Ordinal);
            var termsSeen = new HashSet<ulong>();
            var membersSeen = new HashSet<string>(StringComparer.Ordinal);
            var watchUntil = DateTime.UtcNow + ImpostorsRunFor;
            var anchoring = load.RunAsync(cluster.All, cluster.Issuers[0], loops: 2, digestsPerRequest: 50, requestsPerLoopMax: 10, token);
            while (DateTime.UtcNow < watchUntil || !anchoring.IsCompleted)
            {
                foreach (var member in everyone)
                {
                    var status = await cluster.TryStatusAsync(member, token);
                    if (status is null)
                    {
                        continue;
                    }

                    leadersSeen.Add(status.Leader);
                    termsSeen.UnionWith(status.Members.Where(m => m.Role != "unreachable").Select(m => m.Term));
                    membersSeen.UnionWith(status.Members.Select(m => m.Id));
                }

                await Task.Delay(200, token);
            }

            await anchoring;
            Assert.Empty(load.Errors);
            Assert.Equal(2 * 10 * 50, load.Acknowledged.Count);
            Assert.Equal([cluster.MemberIds[leader]], leadersSeen);
            Assert.Equal([terms[0]], termsSeen);
            Assert.Equal(cluster.MemberIds.Order(StringComparer.Ordinal), membersSeen.Order(StringComparer.Ordinal));
            Assert.Equal(terms, await TermsAsync(cluster, token));

            // Neither impostor can have anything acknowledged, and nothing sent to them reaches the real log.
            var impostors = new[] { sameName, freshName };
            var sentToImpostors = impostors.Select(_ => RandomNumberGenerator.GetBytes(32)).ToArray();
            await Task.WhenAll(impostors.Select(async (impostor, i) =>
            {
                Assert.False(impostor.Node.HasExited, $"{impostor.Node.Label} exited");
                using var client = new LedgerClient([impostor.Address], new LedgerClientOptions(TimeSpan.FromSeconds(3), 1, TimeSpan.FromMilliseconds(50)));
                await Assert.ThrowsAsync<RpcException>(() => client.AnchorAsync(cluster.Issuers[0], [sentToImpostors[i]], includeReceipts: false, token));
                var seenByImpostor = await TryStatusAsync(client, token);
                Assert.NotEqual(impostor.Name, seenByImpostor?.Leader);
            }));

            foreach (var member in everyone)
            {
                await ClusterChecks.WaitForReceiptsAsync(cluster, member, load.Acknowledged, collector: null, PhaseTimeout, token);
                var receipts = await cluster.Client(member).GetReceiptsAsync(sentToImpostors, cancellationToken: token);
                Assert.All(receipts, Assert.Null);
            }

            // The members log the calls they refuse (gRPC UNAUTHENTICATED): the fresh name reaches all
            // three, the stolen name reaches the two members other than the one whose name it took.
            foreach (var member in everyone)
            {
                var refusals = cluster.Node(member).LinesContaining("Unauthenticated");
                output.WriteLine($"{cluster.MemberIds[member]}: {refusals.Count} refused peer calls logged, e.g. {(refusals.Count > 0 ? refusals[0] : "none")}");
                Assert.Contains(refusals, line => line.Contains(freshName.Name, StringComparison.Ordinal));
                if (cluster.MemberIds[member] != sameName.Name)
                {
                    Assert.Contains(refusals, line => line.Contains(sameName.Name, StringComparison.Ordinal));
                }
            }
        });
    }

    private sealed record Impostor(string Name, Uri Address, LedgerProcess Node);

    /// <summary>
    /// A node whose consortium file has the real origin, issuers and members, except that it lists itself:
    /// in place of <paramref name="replaces"/> (same name, its own key), or as one more member.
    /// </summary>
    private static Impostor StartImpostor(LedgerCluster cluster, SignerKey key, int port, string? replaces)
    {
        var folder = Path.Combine(cluster.DirectoryPath, "impostor-" + key.Name + "-" + port);
        Directory.CreateDirectory(folder);
        var keyPath = Path.Combine(folder, "member.key");
        key.Save(keyPath);
        var address = new Uri($"http://127.0.0.1:{port}");
        var self = new ConsortiumMember(key.Name, key.Verifier, address.ToString().TrimEnd('/'));
        var members = cluster.Consortium.Members.Where(m => m.Id != replaces).Append(self).ToArray();
        var consortium = new Consortium(cluster.Consortium.Origin, Consortium.MajorityOf(members.Length), members, cluster.Consortium.Issuers);
        var consortiumPath = Path.Combine(folder, "consortium.json");
        File.WriteAllText(consortiumPath, consortium.ToJson());
        var node = cluster.StartOutsider(
            $"impostor {key.Name} ({(replaces is null ? "fresh name" : "a member's name, another key")})",
            LedgerCluster.NodeArguments(Path.Combine(folder, "data"), consortiumPath, keyPath, port));
        return new Impostor(key.Name, address, node);
    }

    /// <summary>Each real member's own term, as it reports it.</summary>
    private static async Task<ulong[]> TermsAsync(LedgerCluster cluster, CancellationToken cancellationToken)
    {
        var terms = new ulong[cluster.Count];
        for (var i = 0; i < cluster.Count; i++)
        {
            var status = await cluster.Client(i).GetStatusAsync(cancellationToken);
            terms[i] = status.Members.Single(m => m.Id == cluster.MemberIds[i]).Term;
        }

        return terms;
    }

    private static async Task<Ledger.Sdk.Protos.V1.GetStatusResponse?> TryStatusAsync(LedgerClient client, CancellationToken cancellationToken)
    {
        try
        {
            return await client.GetStatusAsync(cancellationToken);
        }
        catch (RpcException)
        {
            return null;
        }
    }
}
