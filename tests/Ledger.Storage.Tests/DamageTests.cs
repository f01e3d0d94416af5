using Ledger.TestKit;

namespace Ledger.Storage.Tests;

/// <summary>
/// A bit flipped in a table file while the store was closed: every read that meets the damaged block
/// throws <see cref="StorageCorruptException"/> after telling the store's handler, a scan never ends
/// early as if the range were shorter, and a checksum scrub finds the damage before any read does.
/// </summary>
public sealed class DamageTests : IDisposable
{
    private const int Keys = 4_000;
    private readonly TempDirectory _dir = new("ledger-storage-damage");
    private readonly List<StorageCorruptException> _reported = [];

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void An_undamaged_store_passes_the_scrub_and_scans_whole()
    {
        using var store = Fill(damage: false);
        store.VerifyChecksums();
        Assert.Equal(Keys, store.Scan(Key(0), Key(Keys)).Count());
        Assert.Equal(Value(Keys - 1), store.Get(Key(Keys - 1)));
        Assert.Empty(_reported);
    }

    [Fact]
    public void A_scrub_finds_a_flipped_bit_and_reports_it_once_per_finding()
    {
        using var store = Fill(damage: true);
        var scrub = Assert.Throws<StorageCorruptException>(store.VerifyChecksums);
        Assert.Contains("Corruption", scrub.Message, StringComparison.Ordinal);
        Assert.Contains(Path.Combine(_dir.Path, "store"), scrub.Message, StringComparison.Ordinal);
        Assert.Same(scrub, Assert.Single(_reported));
    }

    [Fact]
    public void A_scan_over_a_damaged_block_throws_instead_of_ending_early()
    {
        using var store = Fill(damage: true);
        var seen = 0;
        var failure = Assert.Throws<StorageCorruptException>(() =>
        {
            foreach (var _ in store.Scan(Key(0), Key(Keys)))
            {
                seen++;
            }
        });
        Assert.InRange(seen, 0, Keys - 1);
        Assert.Contains("checksum", failure.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Single(_reported);
    }

    [Fact]
    public void A_point_read_in_a_damaged_block_throws_and_reads_elsewhere_still_answer()
    {
        using var store = Fill(damage: true);
        var failures = 0;
        var answered = 0;
        for (var i = 0; i < Keys; i++)
        {
            try
            {
                Assert.Equal(Value(i), store.Get(Key(i)));
                answered++;
            }
            catch (StorageCorruptException)
            {
                failures++;
            }
        }

        // One data block of about 4 KiB is damaged: the keys it holds fail, the others are read intact.
        Assert.InRange(failures, 1, Keys / 10);
        Assert.Equal(Keys, failures + answered);
        Assert.Equal(failures, _reported.Count);
    }

    [Fact]
    public void A_flipped_bit_in_the_middle_of_the_write_ahead_log_refuses_the_open_instead_of_forgetting_what_follows()
    {
        var folder = WriteSyncedOneByOne("logged", 1_000);
        StoreFileDamage.FlipBitInLargestLog(folder, 0.5);

        var refused = Assert.Throws<StorageCorruptException>(() => RocksDbKeyValueStore.Open(folder, _reported.Add));
        Assert.Contains("Corruption", refused.Message, StringComparison.Ordinal);
        Assert.Same(refused, Assert.Single(_reported));
    }

    [Fact]
    public void A_write_ahead_log_cut_short_inside_its_last_record_opens_with_every_record_before()
    {
        var folder = WriteSyncedOneByOne("torn", 100);

        // A power loss in the middle of the last write: its record is incomplete.
        var log = new DirectoryInfo(folder).EnumerateFiles("*.log").OrderByDescending(file => file.Length).First();
        using (var stream = new FileStream(log.FullName, FileMode.Open, FileAccess.ReadWrite))
        {
            stream.SetLength(log.Length - 10);
        }

        using var reopened = RocksDbKeyValueStore.Open(folder, _reported.Add);
        Assert.Equal(99, reopened.Scan(Key(0), Key(100)).Count());
        Assert.Null(reopened.Get(Key(99)));
        Assert.Empty(_reported);
    }

    /// <summary>Records synced one by one and never flushed: they live in the write-ahead log only.</summary>
    private string WriteSyncedOneByOne(string name, int count)
    {
        var folder = Path.Combine(_dir.Path, name);
        using var store = RocksDbKeyValueStore.Open(folder);
        for (var i = 0; i < count; i++)
        {
            using var batch = store.CreateBatch();
            batch.Put(Key(i), Value(i));
            store.Write(batch, sync: true);
        }

        return folder;
    }

    private RocksDbKeyValueStore Fill(bool damage)
    {
        var folder = Path.Combine(_dir.Path, "store");
        using (var store = RocksDbKeyValueStore.Open(folder))
        {
            using var batch = store.CreateBatch();
            for (var i = 0; i < Keys; i++)
            {
                batch.Put(Key(i), Value(i));
            }

            store.Write(batch, sync: true);
            store.Flush();
        }

        if (damage)
        {
            StoreFileDamage.FlipBitInLargestTable(folder, 0.5);
        }

        return RocksDbKeyValueStore.Open(folder, _reported.Add);
    }

    private static byte[] Key(int i) => System.Text.Encoding.ASCII.GetBytes($"k{i:D8}");

    // Values that do not compress, so that the table's blocks hold what was written.
    private static byte[] Value(int i) => System.Security.Cryptography.SHA256.HashData(BitConverter.GetBytes(i));
}
