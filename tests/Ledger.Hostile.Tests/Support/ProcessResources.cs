using System.Globalization;
using Ledger.TestKit;

namespace Ledger.Hostile.Tests.Support;

/// <summary>What a running process holds, read from /proc: resident memory and open file descriptors.</summary>
internal static class ProcessResources
{
    /// <summary>Resident memory (VmRSS) of the process in bytes, read from /proc.</summary>
    public static long ResidentBytes(this LedgerProcess process)
    {
        foreach (var line in File.ReadLines($"/proc/{process.Id}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                var kib = line["VmRSS:".Length..].Trim().Split(' ')[0];
                return long.Parse(kib, CultureInfo.InvariantCulture) * 1024;
            }
        }

        throw new InvalidOperationException($"no VmRSS line for process {process.Id}");
    }

    /// <summary>Open file descriptors of the process (sockets included).</summary>
    public static int OpenDescriptors(this LedgerProcess process) => Directory.GetFiles($"/proc/{process.Id}/fd").Length;
}
