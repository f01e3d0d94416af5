using System.Diagnostics;
using System.Security.Cryptography;
using Ledger.Node.Sequencing;
using Ledger.Node.State;
using Ledger.Sdk.Merkle;
using Ledger.Storage;

namespace Ledger.CpuCost;

/// <summary>
/// What applying a batch costs per digest on RocksDB: the process's CPU time (all threads, RocksDB's
/// background flushes and compactions included) and managed bytes allocated, over a run of batches
/// of 16 requests × 100 fresh digests (the shape `ledger bench --clients 16 --batch 100` produces).
/// CPU time rather than elapsed time, so the figure means something on a busy machine too.
/// <code>dotnet run -c Release --project tests/Ledger.CpuCost -- apply [--batches N] [--runs R]</code>
/// </summary>
internal static class CpuCost
{
    private const int EntriesPerBatch = 16;
    private const int DigestsPerEntry = 100;
    private const int DigestsPerBatch = EntriesPerBatch * DigestsPerEntry;

    public static void RunApply(int batches, int runs)
    {
        Console.WriteLine($"apply-cost: {batches} batches of {EntriesPerBatch} x {DigestsPerEntry} digests per run, {runs} runs");
        for (var run = 1; run <= runs; run++)
        {
            var folder = Path.Combine(Path.GetTempPath(), "ledger-apply-cost-" + Guid.NewGuid().ToString("N"));
            try
            {
                using var store = RocksDbKeyValueStore.Open(folder, null, StateKeys.StoreFamilies);
                var state = new LedgerState(store);
                state.PopulateDigestFilter();
                var input = Enumerable.Range(0, batches + batches / 10).Select(_ => MakeBatch()).ToArray();
                ulong index = 0;

                // Warm-up (JIT, memtable): the first tenth, not counted.
                foreach (var batch in input.Take(batches / 10))
                {
                    state.Apply(++index, batch);
                }

                var process = Process.GetCurrentProcess();
                process.Refresh();
                var cpuBefore = process.TotalProcessorTime;
                var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
                var clock = Stopwatch.StartNew();
                foreach (var batch in input.Skip(batches / 10))
                {
                    state.Apply(++index, batch);
                }

                state.WriteDigestIndex();
                clock.Stop();
                process.Refresh();
                var cpu = process.TotalProcessorTime - cpuBefore;
                var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
                var settled = SettledCpu(process) - cpuBefore;
                double digests = (double)batches * DigestsPerBatch;
                Console.WriteLine(
                    $"run {run}: cpu_us_per_digest={cpu.TotalMicroseconds / digests:F2} " +
                    $"settled_cpu_us_per_digest={settled.TotalMicroseconds / digests:F2} " +
                    $"elapsed_us_per_digest={clock.Elapsed.TotalMicroseconds / digests:F2} " +
                    $"allocated_bytes_per_digest={allocated / digests:F0} tree_size={state.TreeSize} " +
                    $"disk_bytes_per_digest={FolderBytes(folder) / (double)state.TreeSize:F0} load={File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
            }
            finally
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    /// <summary>
    /// The process's CPU time once RocksDB's background work behind the run (flushes, compactions)
    /// has ended: when a second passes with under 20 ms of CPU, or after two minutes.
    /// </summary>
    private static TimeSpan SettledCpu(Process process)
    {
        var deadline = Stopwatch.StartNew();
        process.Refresh();
        var last = process.TotalProcessorTime;
        while (deadline.Elapsed < TimeSpan.FromMinutes(2))
        {
            Thread.Sleep(1000);
            process.Refresh();
            var now = process.TotalProcessorTime;
            if (now - last < TimeSpan.FromMilliseconds(20))
            {
                return now;
            }

            last = now;
        }

        return last;
    }

    /// <summary>CPU time of one node hash (65 bytes) and one leaf hash (a 52-byte leaf), by <see cref="MerkleHash"/> as the tree calls it.</summary>
    public static void RunHashes(int count)
    {
        var left = RandomNumberGenerator.GetBytes(32);
        var right = RandomNumberGenerator.GetBytes(32);
        var leaf = RandomNumberGenerator.GetBytes(52);
        var hash = new byte[MerkleHash.Size];
        Console.WriteLine($"hash-cost: {count} hashes of each kind, SHA-256 through {Sha256.Library ?? ".NET"}");
        for (var round = 0; round < 2; round++)
        {
            var process = Process.GetCurrentProcess();
            var before = process.TotalProcessorTime;
            for (var i = 0; i < count; i++)
            {
                MerkleHash.Node(left, right, hash);
            }

            process.Refresh();
            var nodes = process.TotalProcessorTime - before;
            before = process.TotalProcessorTime;
            for (var i = 0; i < count; i++)
            {
                MerkleHash.Leaf(leaf, hash);
            }

            process.Refresh();
            var leaves = process.TotalProcessorTime - before;
            Console.WriteLine($"round {round + 1}: node_hash_ns={nodes.TotalNanoseconds / count:F0} leaf_hash_ns={leaves.TotalNanoseconds / count:F0}");
        }
    }

    /// <summary>CPU time of one Ed25519 signature and one verification of a message the size of a 100-digest anchor request's signed bytes.</summary>
    public static void RunSignatures(int count)
    {
        var signer = Ledger.Sdk.SignerKey.Generate("cost");
        var message = RandomNumberGenerator.GetBytes((DigestsPerEntry * 32) + 128);
        var signature = signer.Sign(message);
        Console.WriteLine($"signature-cost: {count} signatures and verifications of {message.Length} bytes");
        for (var round = 0; round < 2; round++)
        {
            var process = Process.GetCurrentProcess();
            var before = process.TotalProcessorTime;
            for (var i = 0; i < count; i++)
            {
                signature = signer.Sign(message);
            }

            process.Refresh();
            var signing = process.TotalProcessorTime - before;
            before = process.TotalProcessorTime;
            var valid = 0;
            for (var i = 0; i < count; i++)
            {
                valid += signer.Verifier.Verify(message, signature) ? 1 : 0;
            }

            process.Refresh();
            var verifying = process.TotalProcessorTime - before;
            Console.WriteLine($"round {round + 1}: sign_us={signing.TotalMicroseconds / count:F1} verify_us={verifying.TotalMicroseconds / count:F1} valid={valid}");
        }
    }

    private static long FolderBytes(string folder) =>
        new DirectoryInfo(folder).EnumerateFiles("*", SearchOption.AllDirectories).Sum(file => file.Length);

    private static Batch MakeBatch()
    {
        var entries = new AnchorEntry[EntriesPerBatch];
        for (var e = 0; e < EntriesPerBatch; e++)
        {
            var digests = new byte[DigestsPerEntry][];
            var all = RandomNumberGenerator.GetBytes(DigestsPerEntry * 32);
            for (var d = 0; d < DigestsPerEntry; d++)
            {
                digests[d] = all.AsSpan(d * 32, 32).ToArray();
            }

            entries[e] = new AnchorEntry("bench-issuer", (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), RandomNumberGenerator.GetBytes(16), digests);
        }

        return new Batch((ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), entries);
    }
}
