using System.CommandLine;
using System.Globalization;

namespace Ledger.Node.Hosting;

/// <summary>What the command line asks for: run the node with these settings, show help or version, or a usage error.</summary>
internal sealed record NodeCommandLineResult(
    IReadOnlyDictionary<string, string?> Settings, string? Problem, ParseResult? Informational);

/// <summary>
/// The command line of <c>ledger-node</c> (System.CommandLine): every switch maps to one setting of
/// <see cref="NodeOptions"/>, and a switch it does not know, a missing value or a value of the wrong
/// type is a usage error (exit 2) rather than a node started with a default the operator did not mean.
/// The values it parses go into the configuration above appsettings.json and environment variables.
/// </summary>
internal static class NodeCommandLine
{
    private const string Summary =
        "ledger-node: a member of a Ledger consortium. With no options it runs a single-node development ledger "
        + "on " + NodeOptions.DevelopmentListen + " with its data in ./ledger-data. Every option can also be set as "
        + "Ledger:<Name> in appsettings.json or as the environment variable Ledger__<Name> (e.g. Ledger__DataDir).";

    /// <summary>Each switch takes its values as a list so that a repeated one is not an error (see <see cref="Parse"/>).</summary>
    private static readonly (Option Option, string Key)[] Switches =
    [
        (Text("--data-dir", "Directory of the node's state (default ./ledger-data)"), "DataDir"),
        (Text("--consortium", "The consortium file (default DATA_DIR/consortium.json, created for a development ledger)"), "Consortium"),
        (Text("--member-key", "This member's signer key file (default DATA_DIR/member.key)"), "MemberKey"),
        (Text("--listen", "Listen address: https://HOST:PORT, or http:// on a loopback address (default " + NodeOptions.DevelopmentListen + "; port 0 picks a free one)"), "Listen"),
        (Text("--tls-certificate", "PEM certificate chain of an https listener"), "TlsCertificate"),
        (Text("--tls-key", "PEM private key of an https listener"), "TlsKey"),
        (Flag("--allow-plaintext", "Allow plain HTTP/2 on an address that is not loopback (a trusted network only)"), "AllowPlaintext"),
        (Text("--metrics-listen", "A separate plain HTTP/1.1 listener for /metrics, http://IP:PORT"), "MetricsListen"),
        (Number<int>("--digests-per-request-max", "Most digests one anchor request may carry (default 10000)"), "DigestsPerRequestMax"),
        (Number<int>("--message-bytes-max", "Largest gRPC message accepted, in bytes (default 4194304)"), "MessageBytesMax"),
        (Number<int>("--queue-digests-max", "Most digests waiting to be sequenced before anchors are refused (default 1000000)"), "QueueDigestsMax"),
        (Number<int>("--batch-digests-max", "Most digests in one batch (default 20000)"), "BatchDigestsMax"),
        (Number<int>("--batch-linger-ms", "How long a batch waits for more digests once the previous one is written (default 0)"), "BatchLingerMs"),
        (Number<ulong>("--nonce-window-ms", "How far a request's time may be from the node's clock; replays are refused within it (default 300000)"), "NonceWindowMs"),
        (Number<int>("--checkpoint-interval-ms", "Least time between two checkpoints the node signs (default 50)"), "CheckpointIntervalMs"),
        (Number<ulong>("--clock-skew-ms", "How far another member's clock may be from this one's (default 30000)"), "ClockSkewMs"),
        (Number<long>("--clock-offset-ms", "Test setting: milliseconds added to the node's clock (default 0)"), "ClockOffsetMs"),
        (Text("--discovery-interfaces", "Network interfaces (comma-separated) on which to find members that have no address (mDNS)"), "DiscoveryInterfaces"),
        (Number<int>("--tick-ms", "Length of one Raft tick (default 50)"), "TickMs"),
        (Number<int>("--election-timeout-ticks", "Base election timeout in ticks (default 10)"), "ElectionTimeoutTicks"),
        (Number<int>("--scrub-interval-minutes", "Minutes between two full checksum scrubs of the stores; 0 turns them off (default 1440)"), "ScrubIntervalMinutes"),
    ];

    /// <summary>The switches and the configuration keys they set.</summary>
    public static IReadOnlyDictionary<string, string> SwitchMappings { get; } =
        Switches.ToDictionary(entry => entry.Option.Name, entry => NodeOptions.SectionName + ":" + entry.Key, StringComparer.Ordinal);

    /// <summary>Parses <paramref name="args"/>; never throws for what the operator typed.</summary>
    public static NodeCommandLineResult Parse(string[] args)
    {
        var root = new RootCommand(Summary) { ReleaseVotesCommand.Create() };
        foreach (var (option, _) in Switches)
        {
            root.Options.Add(option);
        }

        // Running the node is the root's own action, taken by the caller from the settings below; without
        // one, the subcommand would make a command required.
        root.SetAction(_ => 0);

        var parsed = root.Parse(args);
        var none = new Dictionary<string, string?>();
        if (parsed.Errors.Count > 0)
        {
            return new NodeCommandLineResult(none, string.Join("; ", parsed.Errors.Select(error => error.Message)), null);
        }

        if (parsed.CommandResult.Command != root && Switches.Any(entry => parsed.GetResult(entry.Option) is { Implicit: false }))
        {
            // `ledger-node --data-dir X release-votes` would release the default directory's votes.
            return new NodeCommandLineResult(none, $"the node's options do not apply to '{parsed.CommandResult.Command.Name}': give its own options after it", null);
        }

        if (parsed.Action is not null && parsed.Action != root.Action)
        {
            // --help, --version or a subcommand (release-votes): no node starts.
            return new NodeCommandLineResult(none, null, parsed);
        }

        var settings = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var (option, key) in Switches)
        {
            if (parsed.GetResult(option) is { Implicit: false } given)
            {
                // A switch given more than once: the last one wins (a script may append an override).
                var values = (System.Collections.IList)given.GetValueOrDefault<object>()!;
                var value = values.Count == 0 ? true : values[^1];
                settings[NodeOptions.SectionName + ":" + key] = Convert.ToString(value, CultureInfo.InvariantCulture);
            }
        }

        return new NodeCommandLineResult(settings, null, null);
    }

    private static Option<string[]> Text(string name, string description) =>
        new(name) { Description = description, HelpName = "value", Arity = ArgumentArity.OneOrMore };

    /// <summary>A yes/no setting: the switch alone means true.</summary>
    private static Option<bool[]> Flag(string name, string description) =>
        new(name) { Description = description, HelpName = "true|false", Arity = ArgumentArity.ZeroOrMore };

    private static Option<T[]> Number<T>(string name, string description) =>
        new(name) { Description = description, HelpName = "n", Arity = ArgumentArity.OneOrMore };
}
