namespace Ledger.TestKit;

/// <summary>Damage to a stopped store's files, as a failing disk would do it: one bit flipped in a table file.</summary>
public static class TableDamage
{
    /// <summary>
    /// Flips one bit in the largest RocksDB table file (<c>*.sst</c>) under <paramref name="storeFolder"/>,
    /// at <paramref name="fraction"/> of its length (the data blocks come first; the index and the footer
    /// sit at the end). Returns "file@offset" for messages. Throws when the folder holds no table file.
    /// </summary>
    public static string FlipBitInLargestTable(string storeFolder, double fraction)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(fraction, 0.0);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(fraction, 1.0);
        var table = Directory.EnumerateFiles(storeFolder, "*.sst")
            .Select(file => new FileInfo(file))
            .OrderByDescending(file => file.Length)
            .FirstOrDefault() ?? throw new InvalidOperationException($"{storeFolder} holds no table file (*.sst)");
        var offset = (long)(table.Length * fraction);
        using (var stream = new FileStream(table.FullName, FileMode.Open, FileAccess.ReadWrite))
        {
            stream.Position = offset;
            var value = stream.ReadByte();
            stream.Position = offset;
            stream.WriteByte((byte)(value ^ 0x10));
        }

        return $"{table.Name}@{offset}";
    }
}
