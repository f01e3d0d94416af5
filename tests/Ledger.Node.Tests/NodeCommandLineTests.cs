using System.Text.Json;
using Ledger.Node.Hosting;
using Ledger.Node.Tests.Support;
using Ledger.TestKit;

namespace Ledger.Node.Tests;

/// <summary>ledger-node's command line: what it does not understand stops it before anything is created.</summary>
public sealed class NodeCommandLineTests
{
    [Theory]
    [InlineData(new[] { "--data-dri", "x" }, "--data-dri")]
    [InlineData(new[] { "--bogus" }, "--bogus")]
    [InlineData(new[] { "--tick-ms", "abc" }, "abc")]
    [InlineData(new[] { "--listen" }, "--listen")]
    [InlineData(new[] { "--allow-plaintext", "maybe" }, "maybe")]
    [InlineData(new[] { "stray" }, "stray")]
    [InlineData(new[] { "--data-dir", "/srv/ledger", "release-votes" }, "do not apply to 'release-votes'")]
    [InlineData(new[] { "release-votes", "--tick-ms", "20" }, "--tick-ms")]
    [InlineData(new[] { "release-votes", "--data-dir" }, "--data-dir")]
    public void What_it_does_not_understand_is_a_usage_error_naming_it(string[] args, string named)
    {
        var parsed = NodeCommandLine.Parse(args);
        Assert.NotNull(parsed.Problem);
        Assert.Contains(named, parsed.Problem, StringComparison.Ordinal);
        Assert.Empty(parsed.Settings);
        Assert.Null(parsed.Informational);
    }

    [Fact]
    public void The_release_votes_command_starts_no_node_and_no_switch_alone_is_taken_for_a_command()
    {
        var command = NodeCommandLine.Parse(["release-votes", "--data-dir", "/srv/ledger"]);
        Assert.Null(command.Problem);
        Assert.Empty(command.Settings);
        Assert.Equal("release-votes", command.Informational!.CommandResult.Command.Name);

        var node = NodeCommandLine.Parse(["--data-dir", "/srv/ledger"]);
        Assert.Null(node.Problem);
        Assert.Null(node.Informational);
        Assert.Equal("/srv/ledger", node.Settings["Ledger:DataDir"]);
    }

    [Fact]
    public void Every_switch_sets_its_setting_with_the_value_given_and_nothing_else()
    {
        var parsed = NodeCommandLine.Parse(
            ["--data-dir", "/srv/ledger", "--tick-ms=20", "--listen", "http://127.0.0.1:1", "--listen", "http://127.0.0.1:2", "--allow-plaintext", "--clock-offset-ms", "-5000", "--nonce-window-ms", "60000"]);
        Assert.Null(parsed.Problem);
        Assert.Equal(
            new Dictionary<string, string?>
            {
                ["Ledger:DataDir"] = "/srv/ledger",
                ["Ledger:TickMs"] = "20",
                ["Ledger:Listen"] = "http://127.0.0.1:2",
                ["Ledger:AllowPlaintext"] = "True",
                ["Ledger:ClockOffsetMs"] = "-5000",
                ["Ledger:NonceWindowMs"] = "60000",
            },
            parsed.Settings);
    }

    [Fact]
    public void Every_switch_names_a_setting_of_the_node()
    {
        var settings = typeof(NodeOptions).GetProperties().Select(property => NodeOptions.SectionName + ":" + property.Name).ToHashSet();
        Assert.All(NodeCommandLine.SwitchMappings.Values, key => Assert.Contains(key, settings));
        Assert.Equal(21, NodeCommandLine.SwitchMappings.Count);
    }

    [Fact]
    public async Task Release_votes_finds_the_data_directory_where_the_node_would_and_creates_nothing()
    {
        using var dir = new TempDirectory("ledger-node-tests");
        var fromSettings = Path.Combine(dir.Path, "from-settings");
        var fromEnvironment = Path.Combine(dir.Path, "from-environment");
        File.WriteAllText(Path.Combine(dir.Path, "appsettings.json"), JsonSerializer.Serialize(new { Ledger = new { DataDir = fromSettings } }));

        using (var settings = RunningProgram.Start(RepoPaths.NodeDll, ["release-votes"], dir.Path))
        {
            Assert.Equal(1, await settings.WaitForExitAsync(TimeSpan.FromMinutes(1)));
            Assert.Contains(Path.Combine(fromSettings, "raft") + " holds no Raft log", settings.Error, StringComparison.Ordinal);
        }

        var environment = new Dictionary<string, string> { ["Ledger__DataDir"] = fromEnvironment };
        using (var overridden = RunningProgram.Start(RepoPaths.NodeDll, ["release-votes"], dir.Path, environment))
        {
            Assert.Equal(1, await overridden.WaitForExitAsync(TimeSpan.FromMinutes(1)));
            Assert.Contains(Path.Combine(fromEnvironment, "raft") + " holds no Raft log", overridden.Error, StringComparison.Ordinal);
        }

        Assert.Equal(["appsettings.json"], Directory.EnumerateFileSystemEntries(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public async Task A_setting_of_the_wrong_type_from_the_environment_exits_with_2_naming_it()
    {
        using var dir = new TempDirectory("ledger-node-tests");
        var environment = new Dictionary<string, string> { ["Ledger__ElectionTimeoutTicks"] = "ten" };
        using var node = RunningProgram.Start(RepoPaths.NodeDll, ["--listen", "http://127.0.0.1:0"], dir.Path, environment);
        Assert.Equal(2, await node.WaitForExitAsync(TimeSpan.FromMinutes(1)));
        Assert.Contains("Ledger:ElectionTimeoutTicks", node.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", node.Error, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir.Path));
    }

    [Fact]
    public async Task Help_lists_the_options_and_starts_nothing()
    {
        using var dir = new TempDirectory("ledger-node-tests");
        var result = await ProcessRunner.RunDotnetAsync(RepoPaths.NodeDll, ["--help"], dir.Path);
        Assert.True(result.ExitCode == 0, result.ToString());
        foreach (var name in NodeCommandLine.SwitchMappings.Keys)
        {
            Assert.Contains(name, result.StandardOutput, StringComparison.Ordinal);
        }

        Assert.Empty(Directory.EnumerateFileSystemEntries(dir.Path));
    }

    [Fact]
    public async Task A_misspelt_option_exits_with_2_and_creates_no_ledger()
    {
        using var dir = new TempDirectory("ledger-node-tests");
        var result = await ProcessRunner.RunDotnetAsync(RepoPaths.NodeDll, ["--data-dri", Path.Combine(dir.Path, "intended")], dir.Path);
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("--data-dri", result.StandardError, StringComparison.Ordinal);
        Assert.Contains("ledger-node --help", result.StandardError, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir.Path));
    }
}
