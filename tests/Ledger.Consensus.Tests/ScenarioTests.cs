using System.Runtime.CompilerServices;
using System.Text;

namespace Ledger.Consensus.Tests;

/// <summary>
/// Scripted scenarios: each <c>testdata/*.txt</c> holds commands (<c>&gt; command args</c>) with the
/// expected trace below each. Set <c>LEDGER_REWRITE_TESTDATA=1</c> to rewrite the expected traces.
/// </summary>
public sealed class ScenarioTests
{
    private const string RewriteVariable = "LEDGER_REWRITE_TESTDATA";

    public static TheoryData<string> Files()
    {
        var data = new TheoryData<string>();
        foreach (string path in Directory.GetFiles(TestDataDirectory(), "*.txt").Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(path));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void Scenario(string file)
    {
        string path = Path.Combine(TestDataDirectory(), file);
        string expected = File.ReadAllText(path);
        string actual = RunScript(expected);
        if (Environment.GetEnvironmentVariable(RewriteVariable) == "1")
        {
            File.WriteAllText(path, actual);
            return;
        }

        Assert.Equal(expected, actual);
    }

    [Fact]
    public void A_changed_expectation_fails_the_comparison()
    {
        const string script = "> add-nodes 1\nn1: Follower term=0 vote=0 leader=0 commit=0 applied=0 last=0 voters=(1) learners=()\n";
        Assert.Equal(script, RunScript(script));
        Assert.NotEqual(script.Replace("term=0 vote", "term=9 vote", StringComparison.Ordinal), RunScript(script.Replace("term=0 vote", "term=9 vote", StringComparison.Ordinal)));
    }

    /// <summary>Runs a script, returning it with every command's expected output replaced by the actual one.</summary>
    internal static string RunScript(string script)
    {
        var env = new ScenarioEnvironment();
        var result = new StringBuilder();
        string[] lines = script.Split('\n');
        int i = 0;
        while (i < lines.Length)
        {
            string line = lines[i];
            i++;
            if (!line.StartsWith("> ", StringComparison.Ordinal))
            {
                if (i < lines.Length || line.Length > 0)
                {
                    result.Append(line).Append('\n');
                }

                continue;
            }

            result.Append(line).Append('\n');
            string[] words = line[2..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            result.Append(env.Run(words[0], words[1..]));
            while (i < lines.Length && lines[i].Length > 0 && !lines[i].StartsWith('#') && !lines[i].StartsWith("> ", StringComparison.Ordinal))
            {
                i++; // the old expected output
            }
        }

        return result.ToString();
    }

    private static string TestDataDirectory([CallerFilePath] string source = "")
    {
        string beside = Path.Combine(Path.GetDirectoryName(source)!, "testdata");
        return Environment.GetEnvironmentVariable(RewriteVariable) == "1" || !Directory.Exists(Path.Combine(AppContext.BaseDirectory, "testdata"))
            ? beside
            : Path.Combine(AppContext.BaseDirectory, "testdata");
    }
}
