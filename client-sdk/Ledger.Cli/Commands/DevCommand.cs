using System.CommandLine;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Ledger.Sdk;
using Ledger.Sdk.Client;

namespace Ledger.Cli.Commands;

/// <summary>
/// <c>ledger dev up --members N [--dir DIR]</c> / <c>ledger dev down [--dir DIR]</c>: a local consortium
/// on 127.0.0.1 for trying things out, its processes in the background, described in DIR/dev.json.
/// </summary>
internal static class DevCommand
{
    public const string DefaultDirectory = "ledger-dev";
    public const string StateFileName = "dev.json";
    public const int MembersMax = 7;
    public const string IssuerName = "dev-issuer";

    /// <summary>How long `dev up` waits for every member to serve.</summary>
    public static readonly TimeSpan ServeWait = TimeSpan.FromSeconds(60);

    /// <summary>How long `dev down` waits for a member to stop before killing it.</summary>
    public static readonly TimeSpan StopWait = TimeSpan.FromSeconds(10);

    public static Command Create()
    {
        var members = new Option<int>("--members") { Description = $"How many members (1-{MembersMax})", Required = true };
        var directory = new Option<string>("--dir") { Description = "Folder for keys, data and logs", DefaultValueFactory = _ => DefaultDirectory };
        var nodeBinary = new Option<string?>("--node-binary") { Description = "Path to ledger-node.dll (default: beside this tool, or the repository's build output)" };
        var up = new Command("up", "Start a local consortium on 127.0.0.1 in the background.") { members, directory, nodeBinary };
        up.SetAction(async (parseResult, cancellationToken) =>
            await UpAsync(parseResult.GetValue(members), parseResult.GetValue(directory)!, parseResult.GetValue(nodeBinary), cancellationToken));
        var downDirectory = new Option<string>("--dir") { Description = "The folder given to `dev up`", DefaultValueFactory = _ => DefaultDirectory };
        var down = new Command("down", "Stop the local consortium started by `dev up`.") { downDirectory };
        down.SetAction(async (parseResult, cancellationToken) => await DownAsync(parseResult.GetValue(downDirectory)!, cancellationToken));
        var nodesDirectory = new Option<string>("--dir") { Description = "The folder given to `dev up`", DefaultValueFactory = _ => DefaultDirectory };
        var nodes = new Command("nodes", "Print the running members' addresses, comma-separated (for --node).") { nodesDirectory };
        nodes.SetAction(parseResult => Nodes(parseResult.GetValue(nodesDirectory)!));
        return new Command("dev", "A local consortium for development and trials.") { up, down, nodes };
    }

    private static async Task<int> UpAsync(int memberCount, string directory, string? nodeBinary, CancellationToken cancellationToken)
    {
        if (memberCount is < 1 or > MembersMax)
        {
            throw new CommandException(ExitCodes.Usage, $"--members must be 1-{MembersMax}, not {memberCount}");
        }

        var dir = Path.GetFullPath(directory);
        var statePath = Path.Combine(dir, StateFileName);
        if (ReadState(statePath) is { } running && running.Members.Any(m => IsOurNode(m.Pid)))
        {
            throw new CommandException(ExitCodes.Failed, $"a consortium from {statePath} is running; run 'ledger dev down --dir {directory}' first");
        }

        var node = LocateNode(nodeBinary);
        Directory.CreateDirectory(dir);
        var (consortiumPath, consortium, issuerKeyPath) = PrepareConsortium(dir, memberCount);
        var state = new DevState(consortiumPath, issuerKeyPath, []);
        foreach (var member in consortium.Members)
        {
            var dataDir = Path.Combine(dir, member.Id);
            var pid = StartNode(node, dataDir, consortiumPath, Path.Combine(dataDir, "member.key"), member.Address!);
            state.Members.Add(new DevMember(member.Id, member.Address!, dataDir, pid));
            WriteState(statePath, state);
        }

        if (!await WaitUntilServingAsync(state, cancellationToken))
        {
            await StopAllAsync(state, cancellationToken);
            File.Delete(statePath);
            return ExitCodes.Failed;
        }

        PrintUp(state, statePath);
        return ExitCodes.Ok;
    }

    private static async Task<int> DownAsync(string directory, CancellationToken cancellationToken)
    {
        var statePath = Path.Combine(Path.GetFullPath(directory), StateFileName);
        var state = ReadState(statePath) ?? throw new CommandException(ExitCodes.Failed, $"no {statePath}: nothing to stop");
        await StopAllAsync(state, cancellationToken);
        File.Delete(statePath);
        Console.WriteLine($"stopped {state.Members.Count} member(s); data and keys stay in {directory}");
        return ExitCodes.Ok;
    }

    private static int Nodes(string directory)
    {
        var statePath = Path.Combine(Path.GetFullPath(directory), StateFileName);
        var state = ReadState(statePath) ?? throw new CommandException(ExitCodes.Failed, $"no {statePath}: run 'ledger dev up' first");
        Console.WriteLine(string.Join(',', state.Members.Select(m => m.Address)));
        return ExitCodes.Ok;
    }

    private static (string ConsortiumPath, Consortium Consortium, string IssuerKeyPath) PrepareConsortium(string dir, int memberCount)
    {
        var consortiumPath = Path.Combine(dir, "consortium.json");
        var issuerKeyPath = Path.Combine(dir, IssuerName + ".key");
        if (File.Exists(consortiumPath))
        {
            var existing = Consortium.Load(consortiumPath);
            if (existing.Members.Count != memberCount)
            {
                throw new CommandException(ExitCodes.Usage,
                    $"{dir} holds a {existing.Members.Count}-member consortium; use another --dir or delete that folder");
            }

            return (consortiumPath, existing, issuerKeyPath);
        }

        var members = new List<ConsortiumMember>();
        for (var i = 0; i < memberCount; i++)
        {
            var name = $"member-{(char)('a' + i)}";
            var dataDir = Path.Combine(dir, name);
            Directory.CreateDirectory(dataDir);
            var key = SignerKey.Generate(name);
            key.Save(Path.Combine(dataDir, "member.key"));
            members.Add(new ConsortiumMember(name, key.Verifier, $"http://127.0.0.1:{FreeLoopbackPort()}"));
        }

        var issuer = SignerKey.Generate(IssuerName);
        issuer.Save(issuerKeyPath);
        var origin = "dev.ledger.local/" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        var consortium = new Consortium(origin, Consortium.MajorityOf(memberCount), members, [new ConsortiumIssuer(IssuerName, issuer.Verifier, "Development issuer")]);
        File.WriteAllText(consortiumPath, consortium.ToJson());
        return (consortiumPath, consortium, issuerKeyPath);
    }

    private static int StartNode(string nodeDll, string dataDir, string consortiumPath, string memberKeyPath, string address)
    {
        var log = Path.Combine(dataDir, "node.log");
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, WorkingDirectory = dataDir };
        // exec: the shell becomes the node, so the pid recorded is the node's; nohup: it outlives this tool.
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("exec nohup \"$0\" \"$@\" >>\"$LEDGER_DEV_LOG\" 2>&1 </dev/null");
        foreach (var argument in new[] { DotnetHost(), nodeDll, "--data-dir", dataDir, "--consortium", consortiumPath, "--member-key", memberKeyPath, "--listen", address })
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["LEDGER_DEV_LOG"] = log;
        using var process = Process.Start(start) ?? throw new CommandException(ExitCodes.Failed, "could not start ledger-node");
        return process.Id;
    }

    private static async Task<bool> WaitUntilServingAsync(DevState state, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + ServeWait;
        foreach (var member in state.Members)
        {
            using var client = new LedgerClient([new Uri(member.Address)], new LedgerClientOptions(TimeSpan.FromSeconds(2), 1, TimeSpan.Zero));
            while (true)
            {
                try
                {
                    // Serving means: answering, following an elected leader, holding a quorum-signed checkpoint,
                    // and voting again (a new Raft log holds its votes until it has heard from every member;
                    // until every member votes, losing one can stop the consortium).
                    var status = await client.GetStatusAsync(cancellationToken);
                    var votesHeld = status.Members.FirstOrDefault(m => m.Id == member.Id)?.VotesHeld ?? true;
                    if (status.Leader.Length > 0 && status.Checkpoint.Length > 0 && !votesHeld)
                    {
                        break;
                    }

                    throw new IOException("no leader, no quorum-signed checkpoint or votes still held");
                }
                catch (Exception e) when (e is Grpc.Core.RpcException or HttpRequestException or IOException)
                {
                    if (DateTime.UtcNow > deadline || !IsOurNode(member.Pid))
                    {
                        await Console.Error.WriteLineAsync($"ledger: {member.Id} did not start serving at {member.Address} ({e.Message}); its log ({Path.Combine(member.DataDir, "node.log")}) ends with:");
                        await Console.Error.WriteLineAsync(Tail(Path.Combine(member.DataDir, "node.log")));
                        return false;
                    }

                    await Task.Delay(100, cancellationToken);
                }
            }
        }

        return true;
    }

    private static async Task StopAllAsync(DevState state, CancellationToken cancellationToken)
    {
        var processes = state.Members.Where(m => IsOurNode(m.Pid)).Select(m => Process.GetProcessById(m.Pid)).ToList();
        foreach (var process in processes)
        {
            Kill(process.Id, signal: 15);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(StopWait);
        foreach (var process in processes)
        {
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
            }

            process.Dispose();
        }
    }

    private static void Kill(int pid, int signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", [$"-{signal}", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false });
        kill?.WaitForExit();
    }

    /// <summary>True when the pid is alive and runs ledger-node (a reused pid is never signalled).</summary>
    private static bool IsOurNode(int pid)
    {
        try
        {
            var commandLine = File.ReadAllText($"/proc/{pid}/cmdline");
            return commandLine.Contains("ledger-node", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static string LocateNode(string? nodeBinary)
    {
        var candidates = new List<string>();
        if (nodeBinary is not null)
        {
            candidates.Add(nodeBinary);
        }
        else if (Environment.GetEnvironmentVariable("LEDGER_NODE_BINARY") is { Length: > 0 } fromEnvironment)
        {
            candidates.Add(fromEnvironment);
        }
        else
        {
            candidates.Add(Path.Combine(AppContext.BaseDirectory, "ledger-node.dll"));
            var root = FindRepositoryRoot();
            if (root is not null)
            {
                var own = AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";
                foreach (var configuration in new[] { own, "Release", "Debug" })
                {
                    candidates.Add(Path.Combine(root, "node", "Ledger.Node", "bin", configuration, "net10.0", "ledger-node.dll"));
                }
            }
        }

        return candidates.FirstOrDefault(File.Exists) ?? throw new CommandException(ExitCodes.Failed,
            "ledger-node.dll not found (looked at " + string.Join(", ", candidates) + "); build it with 'dotnet build node/Ledger.Node' or pass --node-binary");
    }

    private static string? FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Ledger.sln")))
            {
                return dir.FullName;
            }
        }

        return null;
    }

    private static string DotnetHost()
    {
        var current = Environment.ProcessPath;
        return current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet" ? current : "dotnet";
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string Tail(string path)
    {
        try
        {
            var lines = File.ReadAllLines(path);
            return string.Join('\n', lines.TakeLast(20));
        }
        catch (IOException)
        {
            return "(no log)";
        }
    }

    private static void PrintUp(DevState state, string statePath)
    {
        Console.WriteLine($"{state.Members.Count}-member consortium running on 127.0.0.1 ({statePath})");
        foreach (var member in state.Members)
        {
            Console.WriteLine($"  {member.Id,-10} {member.Address}  pid {member.Pid}  data {member.DataDir}");
        }

        var nodes = string.Join(',', state.Members.Select(m => m.Address));
        Console.WriteLine($"consortium file: {state.Consortium}");
        Console.WriteLine($"issuer key:      {state.IssuerKey}");
        Console.WriteLine($"try:  ledger anchor FILE... --issuer-key {state.IssuerKey} --node {nodes} --receipts receipts/");
    }

    private static DevState? ReadState(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize(File.ReadAllText(path), DevJson.Default.DevState);
        }
        catch (JsonException e)
        {
            throw new CommandException(ExitCodes.Failed, $"{path} is not a dev.json this tool wrote: {e.Message}");
        }
    }

    private static void WriteState(string path, DevState state)
    {
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(state, DevJson.Default.DevState));
        File.Move(temporary, path, overwrite: true);
    }
}

/// <summary>dev.json (SPEC §7): each member's id, address, data folder and pid, and the development issuer's key.</summary>
internal sealed record DevState(
    [property: JsonPropertyName("consortium")] string Consortium,
    [property: JsonPropertyName("issuerKey")] string IssuerKey,
    [property: JsonPropertyName("members")] List<DevMember> Members);

internal sealed record DevMember(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("address")] string Address,
    [property: JsonPropertyName("dataDir")] string DataDir,
    [property: JsonPropertyName("pid")] int Pid);

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(DevState))]
internal sealed partial class DevJson : JsonSerializerContext;
