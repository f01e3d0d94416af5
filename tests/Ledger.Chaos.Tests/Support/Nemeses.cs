using System.Globalization;
using Ledger.Chaos.Tool;

namespace Ledger.Chaos.Tests.Support;

/// <summary>A fault in force: what it is, whom it hit, when it began, and how to heal it (which returns what was seen).</summary>
internal sealed record ActiveFault(string Kind, string Target, long StartMs, int[] Members, Func<Task<string>> HealAsync);

/// <summary>
/// The faults the harness injects, each started by one method and healed by the function it returns.
/// All draw from one seeded generator, so a seed replays the same choices.
/// </summary>
internal sealed class Nemeses(ChaosCluster cluster, Random random, bool netem)
{
    public const string Kill = "kill";
    public const string Pause = "pause";
    public const string Isolate = "partition-isolate";
    public const string Split = "partition-majority-minority";
    public const string Bridge = "partition-bridge";
    public const string OneWay = "one-way-loss";
    public const string Loss = "packet-loss";
    public const string Delay = "delay";
    public const string DiskFull = "disk-full";
    public const string BitFlip = "bit-flip";
    public const string ClockSkew = "clock-skew";

    /// <summary>Every kind, in a fixed order (the schedule shuffles it with the seed).</summary>
    public static readonly IReadOnlyList<string> Kinds = [Kill, Pause, Isolate, Split, Bridge, OneWay, Loss, Delay, DiskFull, BitFlip, ClockSkew];

    /// <summary>How far off the skewed member's clock is: ten minutes ahead, far beyond the members' allowed skew (30 s).</summary>
    public const long ClockOffsetMs = 600_000;

    /// <summary>Bits flipped in a stopped member's data files.</summary>
    public const int BitsFlipped = 3;

    /// <summary>Filler written at most when filling a disk, in 1 MiB chunks.</summary>
    private const int FillerChunksMax = 4_096;

    private const string FillerName = "chaos-filler";

    /// <summary>Rate of the delayed class when there is no netem, and its queue: about 2 s at that rate.</summary>
    private const string SlowRate = "512kbit";

    private const string SlowQueueBytes = "128000";

    /// <summary>Exit code of a process that died of SIGABRT (.NET aborts on an unhandled exception).</summary>
    private const int AbortExitCode = 134;

    /// <summary>Exit code of a member that found its stored data damaged (it stops; its next start repairs or refuses).</summary>
    private const int DamageFoundExitCode = 3;

    /// <summary>Members whose process exit was caused by a fault (a full disk, refused damaged files); any other exit is a crash.</summary>
    public HashSet<int> ExpectedExits { get; } = [];

    /// <summary>What members printed when they exited on their own, one entry per exit.</summary>
    public List<string> Exits { get; } = [];

    /// <summary>Starts a fault of <paramref name="kind"/> on <paramref name="target"/> (other members drawn as needed).</summary>
    public Task<ActiveFault> StartAsync(string kind, int target) => kind switch
    {
        Kill => KillAsync(target),
        Pause => PauseAsync(target),
        Isolate => IsolateAsync(target),
        Split => SplitAsync(target),
        Bridge => BridgeAsync(target),
        OneWay => OneWayAsync(target),
        Loss => LossAsync(target),
        Delay => DelayAsync(target),
        DiskFull => DiskFullAsync(),
        BitFlip => BitFlipAsync(target),
        ClockSkew => ClockSkewAsync(target),
        _ => throw new ArgumentException("unknown fault " + kind, nameof(kind)),
    };

    /// <summary>The member a kind must hit, if it is fixed (the small disk).</summary>
    public int? FixedTarget(string kind) => kind == DiskFull ? cluster.SmallDiskMember : null;

    /// <summary>
    /// After every fault is healed: every member that exited is started again (recorded); one that cannot
    /// start is replaced (data wiped) as an operator would.
    /// </summary>
    public async Task<string> RestartExitedAsync(CancellationToken cancellationToken)
    {
        var notes = new List<string>();
        for (var i = 0; i < cluster.Count; i++)
        {
            if (!cluster.Node(i).HasExited)
            {
                continue;
            }

            // A member whose files a fault damaged may find out later (a checksum on a read) and stop; an
            // abort (SIGABRT, 134: an unhandled exception) is a crash whatever the cause.
            var exitCode = cluster.Node(i).ExitCode;
            var caused = ExpectedExits.Contains(i) && exitCode != AbortExitCode;
            Exits.Add($"{ChaosCluster.MemberName(i)} exited with {exitCode} ({(caused ? "caused by a fault" : "NOT caused by a fault")}):\n{cluster.Node(i).TailText(25)}");
            notes.Add($"{ChaosCluster.MemberName(i)} had exited ({cluster.Node(i).ExitCode}): " + await StartOrReplaceAsync(i, cancellationToken));
        }

        return string.Join("; ", notes);
    }

    private static long NowMs() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    private static string Name(int member) => ChaosCluster.MemberName(member);

    private static ActiveFault Fault(string kind, int[] members, string target, Func<Task<string>> heal) => new(kind, target, NowMs(), members, heal);

    private Task<ActiveFault> KillAsync(int target)
    {
        cluster.Node(target).Kill();
        return Task.FromResult(Fault(Kill, [target], Name(target), () => StartOrReplaceAsync(target, CancellationToken.None)));
    }

    private async Task<ActiveFault> PauseAsync(int target)
    {
        var node = cluster.Node(target);
        if (node.HasExited)
        {
            return Fault(Pause, [target], Name(target), () => Task.FromResult("it was not running"));
        }

        await node.PauseAsync(CancellationToken.None);
        return Fault(Pause, [target], Name(target), async () =>
        {
            await node.ResumeAsync(CancellationToken.None);
            return "SIGSTOP, then SIGCONT";
        });
    }

    private async Task<ActiveFault> IsolateAsync(int target)
    {
        await cluster.Network.SetLinkAsync(target, up: false);
        return Fault(Isolate, [target], Name(target), async () =>
        {
            await cluster.Network.SetLinkAsync(target, up: true);
            return "link down, then up";
        });
    }

    private async Task<ActiveFault> SplitAsync(int target)
    {
        var minoritySize = (cluster.Count - 1) / 2;
        var minority = Others(target).Take(minoritySize - 1).Prepend(target).ToArray();
        var majority = Enumerable.Range(0, cluster.Count).Except(minority).ToArray();
        foreach (var member in minority)
        {
            await cluster.Network.DropBetweenAsync(member, majority);
        }

        foreach (var member in majority)
        {
            await cluster.Network.DropBetweenAsync(member, minority);
        }

        var sides = $"{{{string.Join(",", minority.Select(Name))}}} | {{{string.Join(",", majority.Select(Name))}}}";
        return Fault(Split, [.. minority.Concat(majority)], sides, async () =>
        {
            await cluster.Network.HealAsync();
            return "iptables drops between the sides";
        });
    }

    private async Task<ActiveFault> BridgeAsync(int bridge)
    {
        var others = Others(bridge).ToArray();
        var left = others.Take(others.Length / 2).ToArray();
        var right = others.Skip(others.Length / 2).ToArray();
        foreach (var member in left)
        {
            await cluster.Network.DropBetweenAsync(member, right);
        }

        foreach (var member in right)
        {
            await cluster.Network.DropBetweenAsync(member, left);
        }

        var target = $"{{{string.Join(",", left.Select(Name))}}} <- {Name(bridge)} -> {{{string.Join(",", right.Select(Name))}}}";
        return Fault(Bridge, [.. others.Append(bridge)], target, async () =>
        {
            await cluster.Network.HealAsync();
            return "iptables drops between the two sides; the bridge member saw both";
        });
    }

    private async Task<ActiveFault> OneWayAsync(int target)
    {
        foreach (var other in Others(target))
        {
            await cluster.Network.IptablesAsync(target, "-A", "OUTPUT", "-d", ChaosNetwork.MemberAddress(other), "-j", "DROP");
        }

        return Fault(OneWay, [target], Name(target) + " (outgoing to members)", async () =>
        {
            await cluster.Network.HealAsync();
            return "iptables drop of the member's outgoing packets to the other members; it still received theirs";
        });
    }

    private async Task<ActiveFault> LossAsync(int target)
    {
        var probability = (0.2 + (random.NextDouble() * 0.2)).ToString("0.00", CultureInfo.InvariantCulture);
        foreach (var chain in new[] { "INPUT", "OUTPUT" })
        {
            await cluster.Network.IptablesAsync(target, "-A", chain, "-m", "statistic", "--mode", "random", "--probability", probability, "-j", "DROP");
        }

        return Fault(Loss, [target], Name(target), async () =>
        {
            await cluster.Network.HealAsync();
            return $"iptables statistic drop, probability {probability} each way";
        });
    }

    private async Task<ActiveFault> DelayAsync(int target)
    {
        var space = cluster.Network.Members[target];
        if (netem)
        {
            string[] discipline = ["netem", "delay", "150ms", "100ms", "reorder", "10%"];
            await Shell.InNamespaceAsync(space, "tc", ["qdisc", "add", "dev", ChaosNetwork.Interface, "root", .. discipline]);
            return Fault(Delay, [target], Name(target), async () =>
            {
                await cluster.Network.HealAsync();
                return "tc " + string.Join(' ', discipline);
            });
        }

        // Without netem: an htb class with a slow rate and a queue of about 2 s delays what the member
        // sends; a share of its packets, drawn at random by iptables, skips to a fast class and overtakes
        // those queued, which is netem's reordering (some packets sent at once, the others delayed).
        var overtaking = (0.10 + (random.NextDouble() * 0.15)).ToString("0.00", CultureInfo.InvariantCulture);
        var device = ChaosNetwork.Interface;
        await Shell.InNamespaceAsync(space, "tc", "qdisc", "add", "dev", device, "root", "handle", "1:", "htb", "default", "10");
        await Shell.InNamespaceAsync(space, "tc", "class", "add", "dev", device, "parent", "1:", "classid", "1:10", "htb", "rate", SlowRate, "ceil", SlowRate, "quantum", "1514");
        await Shell.InNamespaceAsync(space, "tc", "qdisc", "add", "dev", device, "parent", "1:10", "handle", "10:", "bfifo", "limit", SlowQueueBytes);
        await Shell.InNamespaceAsync(space, "tc", "class", "add", "dev", device, "parent", "1:", "classid", "1:20", "htb", "rate", "100mbit", "quantum", "1514");
        await cluster.Network.IptablesAsync(target, "-t", "mangle", "-A", "POSTROUTING", "-o", device,
            "-m", "statistic", "--mode", "random", "--probability", overtaking, "-j", "CLASSIFY", "--set-class", "1:20");
        return Fault(Delay, [target], Name(target), async () =>
        {
            var reordered = await OvertakenCountAsync(space);
            await cluster.Network.HealAsync();
            return $"htb {SlowRate} with a {SlowQueueBytes}-byte queue (about 2 s); {overtaking} of packets overtake it ({reordered}); no netem in this kernel";
        });
    }

    /// <summary>What the fast class sent, from <c>tc -s class show</c>: the packets that overtook the queue.</summary>
    private static async Task<string> OvertakenCountAsync(string space)
    {
        var classes = await Shell.InNamespaceAsync(space, "tc", "-s", "class", "show", "dev", ChaosNetwork.Interface);
        var fast = classes.IndexOf("class htb 1:20", StringComparison.Ordinal);
        var sent = fast < 0 ? -1 : classes.IndexOf("Sent ", fast, StringComparison.Ordinal);
        if (sent < 0)
        {
            return "its shaping was already removed, by the heal of a fault in force with it";
        }

        var words = classes[sent..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return words.Length > 4 ? $"{words[3]} packets overtook" : "fast class unread";
    }

    private async Task<ActiveFault> DiskFullAsync()
    {
        var target = cluster.SmallDiskMember ?? throw new InvalidOperationException("no member has a small disk");
        ExpectedExits.Add(target);
        var filler = Path.Combine(cluster.DataDir(target), FillerName);
        long written = 0;
        await using (var stream = new FileStream(filler, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            var chunk = new byte[1 << 20];
            try
            {
                for (var i = 0; i < FillerChunksMax; i++)
                {
                    await stream.WriteAsync(chunk);
                    await stream.FlushAsync();
                    written += chunk.Length;
                }
            }
            catch (IOException)
            {
                // The disk is full: that is the fault.
            }
        }

        return Fault(DiskFull, [target], Name(target), async () =>
        {
            var exited = cluster.Node(target).HasExited;
            File.Delete(filler);
            var restart = await StartOrReplaceAsync(target, CancellationToken.None);
            ExpectedExits.Remove(target);
            return $"tmpfs {ChaosCluster.SmallDiskSize} filled ({written >> 20} MiB of filler); the member {(exited ? "had stopped" : "was still running")}; room made, {restart}";
        });
    }

    private async Task<ActiveFault> BitFlipAsync(int target)
    {
        cluster.Node(target).Kill();
        var files = Directory.EnumerateFiles(cluster.DataDir(target), "*", SearchOption.AllDirectories)
            .Where(file => !file.EndsWith(FillerName, StringComparison.Ordinal) && !IsDiagnostic(Path.GetFileName(file)))
            .Select(file => (Path: file, Length: new FileInfo(file).Length))
            .Where(file => file.Length > 0)
            .OrderBy(file => file.Path, StringComparer.Ordinal)
            .ToArray();
        var totalBytes = files.Sum(file => file.Length);
        var flips = new List<string>();
        for (var i = 0; i < BitsFlipped && totalBytes > 0; i++)
        {
            // A byte drawn uniformly over all the member's files: the large ones (log, tables) are hit the most.
            var position = random.NextInt64(totalBytes);
            var (file, offset) = Locate(files, position);
            var bit = random.Next(8);
            await using (var stream = new FileStream(file, FileMode.Open, FileAccess.ReadWrite))
            {
                stream.Position = offset;
                var value = stream.ReadByte();
                stream.Position = offset;
                stream.WriteByte((byte)(value ^ (1 << bit)));
            }

            flips.Add($"{Path.GetRelativePath(cluster.DataDir(target), file)}@{offset}.{bit}");
        }

        ExpectedExits.Add(target);
        var outcome = await StartOrReplaceAsync(target, CancellationToken.None);
        return Fault(BitFlip, [target], Name(target), () => Task.FromResult($"flipped {string.Join(", ", flips)} while stopped; {outcome}"));
    }

    private async Task<ActiveFault> ClockSkewAsync(int target)
    {
        var arguments = "--clock-offset-ms " + ClockOffsetMs.ToString(CultureInfo.InvariantCulture);
        var started = await cluster.RestartAsync(target, CancellationToken.None, arguments);
        return Fault(ClockSkew, [target], Name(target), async () =>
        {
            var restart = await cluster.RestartAsync(target, CancellationToken.None, "");
            return $"restarted with its clock {ClockOffsetMs / 1000} s ahead ({(started ? "it served" : "it did not start")}), then with the true clock ({(restart ? "served" : "DID NOT START")})";
        });
    }

    /// <summary>Restarts a member; if it exits or never listens (it refused its files), wipes its data and starts it as a replaced member.</summary>
    private async Task<string> StartOrReplaceAsync(int member, CancellationToken cancellationToken)
    {
        if (await cluster.RestartAsync(member, cancellationToken) && !await ExitsSoonAsync(member, cancellationToken))
        {
            return "restarted";
        }

        if (cluster.Node(member).HasExited && cluster.Node(member).ExitCode == DamageFoundExitCode)
        {
            // It found damage (a scrub at start) and stopped; its next start rebuilds the state store from its Raft log.
            var found = cluster.Node(member).TailText(3).Trim();
            if (await cluster.RestartAsync(member, cancellationToken) && !await ExitsSoonAsync(member, cancellationToken))
            {
                return $"it found the damage and stopped ({found}); started again, it rebuilt its state";
            }
        }

        var refused = cluster.Node(member);
        var reason = refused.HasExited ? $"exit {refused.ExitCode}" : "it never listened";
        var lastLines = refused.TailText(6);
        refused.Kill();
        cluster.WipeData(member);
        ExpectedExits.Remove(member);
        var replaced = await cluster.RestartAsync(member, cancellationToken);
        return $"it refused to start ({reason}: {lastLines.Trim()}); data wiped and started as a replaced member ({(replaced ? "listening" : "DID NOT START")})";
    }

    /// <summary>A member that starts on damaged files may stop a moment after listening (while replaying its log).</summary>
    private async Task<bool> ExitsSoonAsync(int member, CancellationToken cancellationToken)
    {
        try
        {
            await cluster.Node(member).WaitForExitAsync(TimeSpan.FromSeconds(3), cancellationToken);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    /// <summary>RocksDB's text logs and options dumps: it never reads them back, so a flip there proves nothing.</summary>
    private static bool IsDiagnostic(string name) =>
        name == "LOG" || name.StartsWith("LOG.old", StringComparison.Ordinal) || name.StartsWith("OPTIONS-", StringComparison.Ordinal);

    private static (string File, long Offset) Locate((string Path, long Length)[] files, long position)
    {
        foreach (var (path, length) in files)
        {
            if (position < length)
            {
                return (path, position);
            }

            position -= length;
        }

        return (files[^1].Path, files[^1].Length - 1);
    }

    private int[] Others(int member) =>
        Enumerable.Range(0, cluster.Count).Where(i => i != member).OrderBy(_ => random.Next()).ToArray();
}
