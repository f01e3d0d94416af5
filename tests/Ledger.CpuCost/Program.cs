using System.CommandLine;

namespace Ledger.CpuCost;

/// <summary>
/// <c>cpu-cost apply [--batches N] [--runs R]</c> and <c>cpu-cost hash [--count N]</c>, <c>cpu-cost sign [--count N]</c>: the CPU time the
/// node's apply spends per digest, one tree hash and one Ed25519 signature and verification, measured as process CPU time so that a busy
/// machine still gives a usable figure. Exit 0, or 2 on bad arguments.
/// </summary>
internal static class Program
{
    public static int Main(string[] args)
    {
        var batches = new Option<int>("--batches") { Description = "Batches of 16 x 100 digests per run", DefaultValueFactory = _ => 600 };
        var runs = new Option<int>("--runs") { Description = "Runs, each on a fresh store", DefaultValueFactory = _ => 3 };
        var count = new Option<int>("--count") { Description = "Hashes of each kind", DefaultValueFactory = _ => 2_000_000 };
        foreach (var option in new[] { batches, runs, count })
        {
            option.Validators.Add(result =>
            {
                if (result.GetValueOrDefault<int>() <= 0)
                {
                    result.AddError($"{option.Name} must be above 0");
                }
            });
        }

        var apply = new Command("apply", "Apply batches to a fresh RocksDB store; print CPU and allocation per digest") { batches, runs };
        apply.SetAction(result => CpuCost.RunApply(result.GetValue(batches), result.GetValue(runs)));
        var hash = new Command("hash", "Compute node and leaf hashes; print CPU per hash") { count };
        hash.SetAction(result => CpuCost.RunHashes(result.GetValue(count)));
        var signatures = new Command("sign", "Sign and verify a 100-digest request's bytes with Ed25519; print CPU per operation") { count };
        signatures.SetAction(result => CpuCost.RunSignatures(result.GetValue(count)));
        var root = new RootCommand("cpu-cost: CPU time per digest of the node's apply, per tree hash and per signature") { apply, hash, signatures };
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors)
            {
                Console.Error.WriteLine("cpu-cost: " + error.Message);
            }

            return 2;
        }

        return parsed.Invoke();
    }
}
