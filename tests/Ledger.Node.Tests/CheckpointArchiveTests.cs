using Ledger.TestKit;
using Ledger.Node.Checkpoints;
using Ledger.Node.Tests.Support;

namespace Ledger.Node.Tests;

public sealed class CheckpointArchiveTests
{
    [Fact]
    public void Checkpoints_come_back_byte_for_byte_after_reopening_and_the_latest_is_the_largest()
    {
        using var dir = new TempDirectory("ledger-node-tests");
        var path = Path.Combine(dir.Path, "checkpoints.db");
        const string Note = "origin\n12\nroot=\n\n\u2014 member sig=\n";
        using (var archive = new CheckpointArchive(path))
        {
            archive.Save(12, Note, 1000);
            archive.Save(3, "older\n", 900);
        }

        using var reopened = new CheckpointArchive(path);
        var latest = reopened.Latest();
        Assert.NotNull(latest);
        Assert.Equal(12, latest.Id);
        Assert.Equal(Note, latest.Text);
        Assert.Equal("older\n", reopened.AtSize(3)!.Text);
        Assert.Null(reopened.AtSize(4));
        Assert.Equal(2, reopened.Count());
    }

    [Fact]
    public void The_checkpoint_of_an_empty_tree_is_filed_under_size_0_and_a_later_one_does_not_replace_it()
    {
        using var dir = new TempDirectory("ledger-node-tests");
        var path = Path.Combine(dir.Path, "checkpoints.db");
        using (var archive = new CheckpointArchive(path))
        {
            archive.Save(0, "empty\n", 500);
            archive.Save(1, "one\n", 600);
        }

        using var reopened = new CheckpointArchive(path);
        Assert.Equal("empty\n", reopened.AtSize(0)?.Text);
        Assert.Equal("one\n", reopened.AtSize(1)?.Text);
        Assert.Equal(2, reopened.Count());
    }
}
