namespace Ledger.TestKit;

/// <summary>Damage to a stopped store's files, as a failing disk would do it: one bit flipped in a RocksDB file.</summary>
public static class StoreFileDamage
{
    /// <summary>
    /// Flips one bit in the largest table file (<c>*.sst</c>) under <paramref name="storeFolder"/>, at
    /// <paramref name="fraction"/> of its length (the data blocks come first; the index and the footer sit
    /// at the end). Returns "file@offset" for messages.
    /// </summary>
    public static string FlipBitInLargestTable(string storeFolder, double fraction) => FlipBitInLargest(storeFolder, "*.sst", fraction);

    /// <summary>
    /// Flips one bit, at <paramref name="fraction"/> of its length, in the largest table file of the
    /// column family <paramref name="familyName"/> (a table file names its family in its properties block).
    /// </summary>
    public static string FlipBitInLargestTableOf(string storeFolder, string familyName, double fraction) =>
        FlipBitInLargest(storeFolder, "*.sst", fraction, path => File.ReadAllBytes(path).AsSpan().IndexOf(System.Text.Encoding.ASCII.GetBytes(familyName)) >= 0);

    /// <summary>Flips one bit in the largest write-ahead log file (<c>*.log</c>) under <paramref name="storeFolder"/>, at <paramref name="fraction"/> of its length.</summary>
    public static string FlipBitInLargestLog(string storeFolder, double fraction) => FlipBitInLargest(storeFolder, "*.log", fraction);

    private static string FlipBitInLargest(string storeFolder, string pattern, double fraction, Func<string, bool>? chosen = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(fraction, 0.0);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(fraction, 1.0);
        var file = Directory.EnumerateFiles(storeFolder, pattern)
            .Select(path => new FileInfo(path))
            .Where(info => info.Length > 0 && (chosen is null || chosen(info.FullName)))
            .OrderByDescending(info => info.Length)
            .FirstOrDefault() ?? throw new InvalidOperationException($"{storeFolder} holds no file {pattern} with data");
        var offset = (long)(file.Length * fraction);
        using (var stream = new FileStream(file.FullName, FileMode.Open, FileAccess.ReadWrite))
        {
            stream.Position = offset;
            var value = stream.ReadByte();
            stream.Position = offset;
            stream.WriteByte((byte)(value ^ 0x10));
        }

        return $"{file.Name}@{offset} of {file.Length}";
    }
}
