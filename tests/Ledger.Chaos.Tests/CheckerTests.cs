using System.Security.Cryptography;
using Ledger.Chaos.Tests.Support;
using Ledger.Chaos.Tool;
using Ledger.Sdk;
using Ledger.TestKit;

namespace Ledger.Chaos.Tests;

/// <summary>
/// The checker against members whose answers are known (a tree built with the node's own code), each
/// test planting one fault: a checker that cannot fail proves nothing.
/// </summary>
public sealed class CheckerTests
{
    private static readonly TimeSpan ConvergeTimeout = TimeSpan.FromSeconds(2);

    private readonly ReceiptFixture _fixture = new(memberCount: 3, quorum: 2, leafCount: 13);
    private readonly FakeMember[] _members;
    private readonly List<HistoryRecord> _history;
    private readonly List<CheckpointRecord> _checkpoints;

    public CheckerTests()
    {
        _members = [.. Enumerable.Range(0, 3).Select(i => new FakeMember(_fixture, $"member-{(char)('a' + i)}"))];

        // Every leaf acknowledged, two per request (the last one alone), and checkpoints seen at sizes 4, 9 and 13.
        _history = [.. _fixture.Leaves.Select((leaf, i) => (leaf, i)).Chunk(2).Select(pair => Acknowledged(pair.Select(p => p.leaf), pair.Select(p => (ulong)p.i)))];
        _checkpoints = [.. new ulong[] { 4, 9, 13 }.Select(size => new CheckpointRecord("member-a", 0, _fixture.SignedCheckpoint(size)))];
    }

    [Fact]
    public async Task A_faithful_run_passes_with_every_check_counted()
    {
        var report = await RunAsync();

        Assert.True(report.Passed, report.ToText());
        Assert.Equal(0, report.Lost);
        Assert.Equal(13, report.DigestsAcknowledged);
        Assert.Equal(13UL, report.FinalTreeSize);
        Assert.Equal(3 * 13, report.Checks["receipts verified offline (quorum-signed checkpoint, inclusion proof, issuer, leaf)"]);
        Assert.True(report.Checks["checkpoint pairs proved consistent (RFC 9162 proofs from the members)"] >= 2, report.ToText());
        Assert.Contains("digests lost: 0", report.ToText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_acknowledged_digest_that_is_not_in_the_log_is_reported_lost()
    {
        var missing = RandomNumberGenerator.GetBytes(32);
        _history.Add(new HistoryRecord(_fixture.IssuerKey.Name, [Convert.ToHexStringLower(missing)], Outcomes.Acknowledged, [13], 0, 0, ""));

        var report = await RunAsync();

        Assert.False(report.Passed);
        Assert.Equal(1, report.Lost);
        Assert.Contains(report.Problems, problem => problem.StartsWith("LOST:", StringComparison.Ordinal) && problem.Contains(Convert.ToHexStringLower(missing), StringComparison.Ordinal));
        Assert.Contains("digests lost: 1", report.ToText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_digest_an_issuer_has_twice_in_the_log_is_reported()
    {
        // Every member serves a log whose last leaf repeats leaf 3.
        foreach (var member in _members)
        {
            member.Leaves[12] = member.Leaves[3];
        }

        var report = await RunAsync();

        Assert.False(report.Passed);
        Assert.Contains(report.Problems, problem => problem.Contains($"has digest {_fixture.Leaves[3].DigestHex} twice in the log, at leaves 3 and 12", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_digest_sent_twice_in_the_history_is_reported()
    {
        _history.Add(Acknowledged([_fixture.Leaves[5]], [5]));

        var report = await RunAsync();

        Assert.False(report.Passed);
        Assert.Contains(report.Problems, problem => problem.Contains($"sent digest {_fixture.Leaves[5].DigestHex} in two requests", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_pair_of_inconsistent_checkpoints_is_reported()
    {
        // A validly signed checkpoint of size 6 whose root is not the log's: another history was shown to someone.
        var forged = new Checkpoint(_fixture.Consortium.Origin, 6, RandomNumberGenerator.GetBytes(32));
        _checkpoints.Add(new CheckpointRecord("member-b", 0, SignedNote.Sign(forged.Body(), _fixture.MemberKeys.Take(2)).ToText()));

        var report = await RunAsync();

        Assert.False(report.Passed);
        Assert.Contains(report.Problems, problem => problem.StartsWith("INCONSISTENT: the checkpoint of size 6 from member-b", StringComparison.Ordinal));
        Assert.Contains(report.Problems, problem => problem.StartsWith("INCONSISTENT: the checkpoint of size 6 (member-b) is not consistent with the one of size 9", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_checkpoint_signed_by_fewer_members_than_the_quorum_is_reported()
    {
        _members[2].CheckpointSigners = [_fixture.MemberKeys[2]];

        var report = await RunAsync();

        Assert.False(report.Passed);
        Assert.Contains(report.Problems, problem => problem.StartsWith("member-c: receipt of issuer", StringComparison.Ordinal));
        Assert.Contains(report.Problems, problem => problem.StartsWith("a checkpoint from member-c", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_member_that_serves_no_receipt_for_an_acknowledged_digest_is_reported()
    {
        _members[1].ReceiptsWithheld.Add(_fixture.Leaves[7].DigestHex);

        var report = await RunAsync();

        Assert.False(report.Passed);
        Assert.Equal(0, report.Lost);
        Assert.Contains(report.Problems, problem => problem == $"member-b: receipt of issuer {_fixture.IssuerKey.Name} digest {_fixture.Leaves[7].DigestHex}: none served (the member says it is not anchored)");
    }

    [Fact]
    public async Task A_member_holding_another_log_is_reported()
    {
        _members[1].Leaves[4] = (_fixture.Leaves[4] with { TimestampMs = _fixture.Leaves[4].TimestampMs + 1 }).Encode();

        var report = await RunAsync();

        Assert.False(report.Passed);
        Assert.Contains(report.Problems, problem => problem.Contains("hold different leaves at 4", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Unknown_outcomes_are_counted_in_the_log_or_not_and_are_no_problem()
    {
        var absent = RandomNumberGenerator.GetBytes(32);
        _history[0] = _history[0] with { Outcome = Outcomes.Unknown, LeafIndices = [] };
        _history.Add(new HistoryRecord(_fixture.IssuerKey.Name, [Convert.ToHexStringLower(absent)], Outcomes.Unknown, [], 0, 0, "DeadlineExceeded"));

        var report = await RunAsync();

        Assert.True(report.Passed, report.ToText());
        Assert.Equal(2, report.UnknownDigestsInLog);
        Assert.Equal(1, report.UnknownDigestsNotInLog);
    }

    [Fact]
    public async Task Members_that_never_agree_are_reported()
    {
        _members[2].Leaves.RemoveAt(12);

        var report = await RunAsync();

        Assert.False(report.Passed);
        Assert.Contains(report.Problems, problem => problem.StartsWith("the members did not reach the same tree", StringComparison.Ordinal));
    }

    private Task<CheckReport> RunAsync() =>
        new Checker(_members, _fixture.Consortium).RunAsync(_history, _checkpoints, [new FaultRecord("kill", "member-a", 0, 1, "")], ConvergeTimeout, CancellationToken.None);

    private HistoryRecord Acknowledged(IEnumerable<Leaf> leaves, IEnumerable<ulong> indices) =>
        new(_fixture.IssuerKey.Name, [.. leaves.Select(leaf => leaf.DigestHex)], Outcomes.Acknowledged, [.. indices], 0, 0, "");
}
