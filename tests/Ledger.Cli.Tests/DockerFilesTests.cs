using System.Diagnostics;
using Ledger.TestKit;

namespace Ledger.Cli.Tests;

/// <summary>
/// The Docker deployment in docker/: the compose file is valid for docker-compose, the Prometheus
/// example scrapes every member, and docker/run-local.sh (the same consortium without a Docker
/// engine) runs end to end.
/// </summary>
public sealed class DockerFilesTests : IDisposable
{
    /// <summary>run-local.sh publishes two programs and runs three members: 1-2 minutes idle, several under load.</summary>
    private static readonly TimeSpan RunLocalDeadline = TimeSpan.FromMinutes(20);

    private static readonly TimeSpan ComposeDeadline = TimeSpan.FromMinutes(2);

    private static readonly string DockerFolder = Path.Combine(RepositoryPaths.Root, "docker");

    private readonly TempDirectory _dir = new("ledger-docker");

    public void Dispose() => _dir.Dispose();

    /// <summary>
    /// LONG (1-2 min on an idle machine): publishes ledger-node and ledger like the image, makes the
    /// keys like the compose `keys` service, runs three members with the compose environment (in a
    /// network namespace, finding each other with mDNS), anchors, proves from a follower, verifies
    /// offline, reads every member's metrics, and kills the leader: the health probe answers on the
    /// others throughout, a new leader anchors, the old one catches up after a restart.
    /// </summary>
    [Fact]
    [Trait("Duration", "Long")]
    public async Task Run_local_runs_the_compose_consortium_without_docker_and_verifies_a_receipt()
    {
        var result = await RunAsync("bash", [Path.Combine(DockerFolder, "run-local.sh")], DockerFolder, RunLocalDeadline);

        Assert.True(result.ExitCode == 0, result.ToString());
        var lines = result.StandardOutput.Split('\n', StringSplitOptions.TrimEntries);
        Assert.Contains("VALID", lines);
        Assert.Contains(lines, line => line.StartsWith("signed by:", StringComparison.Ordinal) && line.Contains("quorum 2 of 3", StringComparison.Ordinal));
        Assert.Contains("run-local: a changed credential is INVALID, as it must be", lines);
        Assert.Contains(lines, line => line.StartsWith("run-local: members run in the network namespace ledger-run-local-", StringComparison.Ordinal));
        Assert.Contains("run-local: making keys and the consortium file (make-secrets.sh), addresses: none, found by discovery", lines);
        Assert.Contains(lines, line => line.StartsWith("run-local: leader: member-", StringComparison.Ordinal) && line.EndsWith("every member reaches the others at the addresses discovery found", StringComparison.Ordinal));
        Assert.Equal(3, lines.Count(line => line.EndsWith(" SERVING", StringComparison.Ordinal)));
        Assert.Contains(lines, line => line.StartsWith("run-local: metrics: ledger_tree_size 1 on every member, ledger_anchors_total ", StringComparison.Ordinal));
        Assert.Contains(lines, line => line.StartsWith("run-local: new leader: member-", StringComparison.Ordinal));
        Assert.Contains(lines, line => line.StartsWith("run-local: member-", StringComparison.Ordinal) && line.EndsWith("restarted and caught up (ledger_tree_size 2)", StringComparison.Ordinal));
        Assert.Contains("run-local: OK", lines);
    }

    [Fact]
    public async Task Compose_file_is_valid_and_gives_every_member_the_node_settings_and_only_member_a_a_host_port()
    {
        var config = await ComposeConfigAsync(Path.Combine(DockerFolder, "docker-compose.yml"));

        Assert.True(config.ExitCode == 0, config.ToString());
        var services = ServiceSections(config.StandardOutput);
        Assert.Equal(new[] { "cli", "keys", "member-a", "member-b", "member-c", "prometheus" }, services.Keys.Order(StringComparer.Ordinal));
        var certificateAddresses = EnvValue("consortium.env", "LEDGER_TLS_IPS").Split(',');
        Assert.Equal("", EnvValue("consortium.env", "LEDGER_ADDRESSES"));
        foreach (var (member, index) in new[] { "member-a", "member-b", "member-c" }.Select((member, index) => (member, index)))
        {
            var section = services[member];
            // Discovery on the compose network's interface, metrics on their own listener, and the
            // fixed address that member's certificate names (a discovered member is called there).
            Assert.Contains("Ledger__DiscoveryInterfaces: eth0", section, StringComparison.Ordinal);
            Assert.Contains("Ledger__MetricsListen: http://0.0.0.0:9400", section, StringComparison.Ordinal);
            Assert.Contains($"ipv4_address: {certificateAddresses[index]}", section, StringComparison.Ordinal);
            Assert.Contains("Ledger__Listen: https://0.0.0.0:7400", section, StringComparison.Ordinal);
            Assert.Contains("Ledger__MemberKey: /secrets/member/member.key", section, StringComparison.Ordinal);
            Assert.Contains("SSL_CERT_FILE: /secrets/shared/ca.pem", section, StringComparison.Ordinal);
            Assert.Contains($"docker/secrets/{member}:/secrets/member:ro", section, StringComparison.Ordinal);
            Assert.Contains($"{member}-data:/data", section, StringComparison.Ordinal);
        }

        Assert.Contains("127.0.0.1:7400:7400", services["member-a"], StringComparison.Ordinal);
        Assert.DoesNotContain("ports:", services["member-b"], StringComparison.Ordinal);
        Assert.DoesNotContain("ports:", services["member-c"], StringComparison.Ordinal);
        Assert.Contains("network_mode: none", services["keys"], StringComparison.Ordinal);
        Assert.Contains("LEDGER_MEMBERS: member-a,member-b,member-c", services["keys"], StringComparison.Ordinal);
        Assert.Contains("127.0.0.1:9090:9090", services["prometheus"], StringComparison.Ordinal);
        Assert.Contains("docker/prometheus.yml:/etc/prometheus/prometheus.yml:ro", services["prometheus"], StringComparison.Ordinal);
        Assert.Contains("- monitoring", services["prometheus"], StringComparison.Ordinal);
        Assert.Contains("subnet: 172.29.87.0/24", config.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public void Prometheus_example_scrapes_the_metrics_listener_of_every_member()
    {
        var lines = File.ReadAllLines(Path.Combine(DockerFolder, "prometheus.yml"));
        Assert.DoesNotContain(lines, line => line.Contains('\t', StringComparison.Ordinal));

        // Every member of consortium.env at the metrics port node.env gives it, and nothing else.
        var port = new Uri(EnvValue("node.env", "Ledger__MetricsListen")).Port;
        var members = EnvValue("consortium.env", "LEDGER_MEMBERS").Split(',');
        var targets = ScrapeTargets(lines);
        Assert.Equal(members.Select(member => $"{member}:{port}"), targets);
        Assert.Equal(3, targets.Count);
    }

    [Fact]
    public void Prometheus_example_reading_notices_a_missing_target_a_second_job_and_https()
    {
        var lines = File.ReadAllLines(Path.Combine(DockerFolder, "prometheus.yml"));

        Assert.Equal(["member-a:9400", "member-b:9400"], ScrapeTargets(lines.Where(line => line.Trim() != "- member-c:9400")));
        Assert.Throws<InvalidOperationException>(() => ScrapeTargets([.. lines, "  - job_name: other"]));
        Assert.Throws<InvalidOperationException>(() => ScrapeTargets(lines.Select(line => line.Replace("scheme: http", "scheme: https", StringComparison.Ordinal))));
    }

    /// <summary>
    /// The targets of the one job under <c>scrape_configs</c> of a Prometheus file read as indented
    /// YAML text; throws unless there is exactly one job, scraping /metrics over plain HTTP.
    /// </summary>
    private static List<string> ScrapeTargets(IEnumerable<string> file)
    {
        var lines = file.Select(line => line.Split('#')[0].TrimEnd()).Where(line => line.Length > 0).ToList();
        var jobs = lines.SkipWhile(line => line != "scrape_configs:").Skip(1).ToList();
        if (jobs.Count(line => line.TrimStart().StartsWith("- job_name:", StringComparison.Ordinal)) != 1
            || !jobs.Contains("    metrics_path: /metrics") || !jobs.Contains("    scheme: http"))
        {
            throw new InvalidOperationException("prometheus.yml: expected one job scraping /metrics over http under scrape_configs");
        }

        return [.. jobs.SkipWhile(line => line.Trim() != "- targets:").Skip(1)
            .TakeWhile(line => line.TrimStart().StartsWith("- ", StringComparison.Ordinal))
            .Select(line => line.Trim()[2..])];
    }

    /// <summary>The value of one KEY=value line of a settings file in docker/.</summary>
    private static string EnvValue(string file, string key) =>
        File.ReadAllLines(Path.Combine(DockerFolder, file))
            .Single(line => line.StartsWith(key + "=", StringComparison.Ordinal))[(key.Length + 1)..];

    [Fact]
    public async Task Compose_config_fails_when_the_file_names_a_missing_settings_file()
    {
        foreach (var file in new[] { "node.env", "consortium.env" })
        {
            File.Copy(Path.Combine(DockerFolder, file), _dir.File(file));
        }

        var broken = File.ReadAllText(Path.Combine(DockerFolder, "docker-compose.yml"))
            .Replace("env_file: node.env", "env_file: missing.env", StringComparison.Ordinal);
        File.WriteAllText(_dir.File("docker-compose.yml"), broken);

        var config = await ComposeConfigAsync(_dir.File("docker-compose.yml"));

        Assert.NotEqual(0, config.ExitCode);
        Assert.Contains("missing.env", config.StandardOutput + config.StandardError, StringComparison.Ordinal);
    }

    private static async Task<ProcessResult> ComposeConfigAsync(string composeFile)
    {
        var compose = FindOnPath("docker-compose")
            ?? throw new InvalidOperationException(
                "docker-compose is not installed: install the Debian package docker-compose (.ci/run does) to check docker/docker-compose.yml");
        return await RunAsync(compose, ["-f", composeFile, "config"], Path.GetDirectoryName(composeFile)!, ComposeDeadline);
    }

    /// <summary>Each service's lines in `docker-compose config` output (services at two spaces of indent).</summary>
    private static Dictionary<string, string> ServiceSections(string config)
    {
        var sections = new Dictionary<string, string>(StringComparer.Ordinal);
        string? current = null;
        var inServices = false;
        foreach (var line in config.Split('\n'))
        {
            if (line.Length > 0 && line[0] != ' ')
            {
                inServices = line == "services:";
                current = null;
            }
            else if (inServices && line.StartsWith("  ", StringComparison.Ordinal) && line.Length > 2 && line[2] != ' ' && line.EndsWith(':'))
            {
                current = line.Trim().TrimEnd(':');
                sections[current] = "";
            }
            else if (current is not null)
            {
                sections[current] += line.Trim() + "\n";
            }
        }

        return sections;
    }

    private static string? FindOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(folder => Path.Combine(folder, program))
            .FirstOrDefault(File.Exists);

    /// <summary>Runs a program to completion; it and everything it started are killed if the deadline passes or the test ends early.</summary>
    private static async Task<ProcessResult> RunAsync(string program, string[] arguments, string workingDirectory, TimeSpan deadline)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start " + program);
        try
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(deadline);
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"{program} {string.Join(' ', arguments)} did not finish within {deadline}");
            }

            return new ProcessResult(process.ExitCode, await stdout, await stderr);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }
}
