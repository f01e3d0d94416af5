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

    private const ulong Minute = 60_000;

    // 10:00 UTC on the first day: hours start at multiples of an hour.
    private const ulong TenOClock = 10 * CheckpointArchive.HourMs;

    /// <summary>Saves checkpoint i (of size i) signed i minutes after ten o'clock, for i in [from, to).</summary>
    private static void SaveMinutes(CheckpointArchive archive, int from, int to)
    {
        for (var i = from; i < to; i++)
        {
            archive.Save((ulong)i, $"checkpoint {i}\n", TenOClock + ((ulong)i * Minute));
        }
    }

    private static int[] Kept(CheckpointArchive archive, int upTo) =>
        Enumerable.Range(0, upTo).Where(i => archive.AtSize((ulong)i) is not null).ToArray();

    // Three hours at one a minute, the last signed at 12:59: the last ten minutes whole, and the
    // first of each earlier hour.
    private static readonly int[] KeptOfThreeHours = [0, 60, 120, .. Enumerable.Range(169, 11)];

    [Fact]
    public void Saving_keeps_the_last_ten_minutes_whole_and_the_first_checkpoint_of_each_earlier_hour()
    {
        using var dir = new TempDirectory("ledger-node-tests");
        using var archive = new CheckpointArchive(Path.Combine(dir.Path, "checkpoints.db"));
        SaveMinutes(archive, 0, 180);

        Assert.Equal(KeptOfThreeHours, Kept(archive, 180));
        Assert.Equal(KeptOfThreeHours.Length, archive.Count());
        Assert.Equal("checkpoint 179\n", archive.Latest()!.Text);
        Assert.Equal("checkpoint 60\n", archive.AtSize(60)!.Text);
    }

    [Fact]
    public void Thinning_goes_on_after_reopening_without_losing_an_hour_already_thinned()
    {
        using var dir = new TempDirectory("ledger-node-tests");
        var path = Path.Combine(dir.Path, "checkpoints.db");
        using (var archive = new CheckpointArchive(path))
        {
            SaveMinutes(archive, 0, 90);
        }

        using var reopened = new CheckpointArchive(path);
        SaveMinutes(reopened, 90, 180);
        Assert.Equal(KeptOfThreeHours, Kept(reopened, 180));
    }

    [Fact]
    public void Pruning_never_deletes_the_newest_nor_a_recent_checkpoint()
    {
        using var dir = new TempDirectory("ledger-node-tests");
        using var archive = new CheckpointArchive(Path.Combine(dir.Path, "checkpoints.db"));
        archive.Save(1, "one\n", TenOClock);
        archive.Save(2, "two\n", TenOClock + Minute);
        Assert.Equal(0, archive.Prune(TenOClock + (5 * CheckpointArchive.HourMs)));
        Assert.Equal([1, 2], Kept(archive, 3));

        // A third of the same hour: the second is neither first in its hour nor the newest.
        archive.Save(3, "three\n", TenOClock + (2 * Minute));
        Assert.Equal(1, archive.Prune(TenOClock + (5 * CheckpointArchive.HourMs)));
        Assert.Equal([1, 3], Kept(archive, 4));

        // Signed within the last ten minutes: nothing goes, however many share the hour.
        archive.Save(4, "four\n", TenOClock + (3 * Minute));
        archive.Save(5, "five\n", TenOClock + (4 * Minute));
        Assert.Equal(0, archive.Prune(TenOClock + (5 * Minute)));
        Assert.Equal([1, 3, 4, 5], Kept(archive, 6));
    }

    [Fact]
    public void Pruning_an_empty_archive_deletes_nothing()
    {
        using var dir = new TempDirectory("ledger-node-tests");
        using var archive = new CheckpointArchive(Path.Combine(dir.Path, "checkpoints.db"));
        Assert.Equal(0, archive.Prune(TenOClock));
        Assert.Null(archive.Latest());
    }
}
