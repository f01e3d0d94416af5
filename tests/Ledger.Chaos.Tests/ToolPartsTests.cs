using Grpc.Core;
using Ledger.Chaos.Tool;
using Ledger.TestKit;

namespace Ledger.Chaos.Tests;

/// <summary>The pieces of the chaos tool the checker's verdict rests on.</summary>
public sealed class ToolPartsTests
{
    [Fact]
    public void Roots_recomputed_from_the_leaves_match_the_nodes_tree_at_every_size()
    {
        var fixture = new ReceiptFixture(leafCount: 37);
        var leaves = fixture.Leaves.Select(leaf => leaf.Encode()).ToArray();
        var sizes = Enumerable.Range(0, 38).Select(size => (ulong)size).ToArray();

        var roots = MerkleRoots.RootsAt(leaves, sizes.Append(38UL));

        Assert.DoesNotContain(38UL, roots.Keys);
        Assert.All(sizes, size => Assert.Equal(fixture.Tree.RootAt(size), roots[size]));
    }

    [Theory]
    [InlineData(StatusCode.DeadlineExceeded, true)]
    [InlineData(StatusCode.Unavailable, true)]
    [InlineData(StatusCode.Cancelled, true)]
    [InlineData(StatusCode.Internal, true)]
    [InlineData(StatusCode.InvalidArgument, false)]
    [InlineData(StatusCode.PermissionDenied, false)]
    [InlineData(StatusCode.ResourceExhausted, false)]
    [InlineData(StatusCode.Unauthenticated, false)]
    public void A_status_that_may_hide_a_commit_makes_the_outcome_unknown(StatusCode code, bool unknown) =>
        Assert.Equal(unknown, Workload.IsUnknown(code));

    [Fact]
    public void History_lines_read_back_as_written()
    {
        using var dir = new TempDirectory("ledger-chaos-history");
        var path = dir.File("history.jsonl");
        var record = new HistoryRecord("issuer-1", ["00ff", "a1b2"], Outcomes.Acknowledged, [7, 8], 1, 2, "");
        JsonLines.Append(path, record);
        JsonLines.Append(path, record with { Outcome = Outcomes.Unknown, LeafIndices = [], Detail = "DeadlineExceeded: late" });

        var read = JsonLines.Read<HistoryRecord>(path);

        Assert.Equal(2, read.Count);
        Assert.Equal(record.Digests, read[0].Digests);
        Assert.Equal(record.LeafIndices, read[0].LeafIndices);
        Assert.Equal(Outcomes.Unknown, read[1].Outcome);
        Assert.Contains("\"outcome\":\"acknowledged\"", File.ReadAllLines(path)[0], StringComparison.Ordinal);
        Assert.Empty(JsonLines.Read<HistoryRecord>(dir.File("missing.jsonl")));
    }

    [Fact]
    public void A_seed_gives_every_loop_its_own_seed_and_the_same_one_each_time()
    {
        Assert.Equal(Workload.LoopSeed(5, 1, 1), Workload.LoopSeed(5, 1, 1));
        var seeds = Enumerable.Range(0, 4).SelectMany(issuer => Enumerable.Range(0, 2).Select(loop => Workload.LoopSeed(5, issuer, loop))).ToArray();
        Assert.Equal(seeds.Length, seeds.Distinct().Count());
    }
}
