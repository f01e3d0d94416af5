namespace Ledger.Node.Hosting;

/// <summary>
/// Node settings, bound from the configuration section <c>Ledger</c> (appsettings.json, environment
/// variables <c>Ledger__DataDir</c>, ..., command line <c>--data-dir</c>, ...). Validated at start.
/// </summary>
internal sealed class NodeOptions
{
    public const string SectionName = "Ledger";
    public const string DevelopmentListen = "http://127.0.0.1:7400";

    /// <summary>Largest clock offset (either way) the test setting <see cref="ClockOffsetMs"/> accepts: one day.</summary>
    public const long ClockOffsetMsMax = 86_400_000;

    /// <summary>Where the node keeps its state. Default <c>./ledger-data</c>.</summary>
    public string DataDir { get; set; } = "ledger-data";

    /// <summary>The consortium file. Default: <c>DataDir/consortium.json</c>, created for a development ledger when missing.</summary>
    public string? Consortium { get; set; }

    /// <summary>This member's signer key file. Default: <c>DataDir/member.key</c>.</summary>
    public string? MemberKey { get; set; }

    /// <summary>Listen address: <c>https://host:port</c>, or <c>http://</c> on a loopback address (development, tests).</summary>
    public string Listen { get; set; } = DevelopmentListen;

    /// <summary>PEM certificate chain for an https listener.</summary>
    public string? TlsCertificate { get; set; }

    /// <summary>PEM private key for an https listener.</summary>
    public string? TlsKey { get; set; }

    /// <summary>
    /// A separate plain HTTP/1.1 listener for <c>/metrics</c> (Prometheus scrapes HTTP/1.1), e.g.
    /// <c>http://127.0.0.1:9400</c>. Unset: <c>/metrics</c> is served on the main listener (HTTP/1.1 or
    /// HTTP/2 when it uses TLS; HTTP/2 only on a plain listener).
    /// </summary>
    public string? MetricsListen { get; set; }

    /// <summary>Allows plain HTTP/2 on a non-loopback address (never in production).</summary>
    public bool AllowPlaintext { get; set; }

    public int DigestsPerRequestMax { get; set; } = 10_000;

    public int MessageBytesMax { get; set; } = 4 * 1024 * 1024;

    public int QueueDigestsMax { get; set; } = 1_000_000;

    public int BatchDigestsMax { get; set; } = 20_000;

    public int BatchLingerMs { get; set; }

    public int InFlightBatchesMax { get; set; } = 8;

    public ulong NonceWindowMs { get; set; } = 300_000;

    public int NoncesMax { get; set; } = 5_000_000;

    public int CheckpointIntervalMs { get; set; } = 50;

    /// <summary>
    /// How far another member's clock may be from this one's: peer handshakes older or newer than
    /// this are refused, and this member cosigns no checkpoint whose newest leaf is stamped further
    /// ahead of its clock.
    /// </summary>
    public ulong ClockSkewMs { get; set; } = 30_000;

    /// <summary>
    /// Test setting: milliseconds added to the wall clock wherever the node reads it (leaf timestamps,
    /// nonce windows, peer handshakes, cosigning). The fault-injection tests use it to run a member whose
    /// clock is far off; a production node leaves it at 0.
    /// </summary>
    public long ClockOffsetMs { get; set; }

    /// <summary>
    /// Network interfaces (comma-separated names) on which the node announces itself and looks for the
    /// members its consortium file gives no address (mDNS, <c>_ledger._tcp</c>). Empty: no discovery.
    /// </summary>
    public string? DiscoveryInterfaces { get; set; }

    /// <summary>Wall-clock length of one Raft tick.</summary>
    public int TickMs { get; set; } = 50;

    /// <summary>Base election timeout in ticks (a follower campaigns after 1 to 2 times this without a leader).</summary>
    public int ElectionTimeoutTicks { get; set; } = 10;

    /// <summary>
    /// Minutes between two verifications of every checksum in the node's stores (a scrub that reads them
    /// whole), the first right after start; 0 turns it off. Damage a scrub finds stops the node as
    /// damage found by a read does (<see cref="StoreDamage"/>).
    /// </summary>
    public int ScrubIntervalMinutes { get; set; } = 1_440;

    /// <summary>Returns the first problem found, or null when the options are usable.</summary>
    public string? Validate()
    {
        if (string.IsNullOrWhiteSpace(DataDir))
        {
            return "Ledger:DataDir (--data-dir) must name a directory";
        }

        if (DigestsPerRequestMax is < 1 or > 100_000)
        {
            return "Ledger:DigestsPerRequestMax must be between 1 and 100000";
        }

        if (MessageBytesMax < 64 * 1024)
        {
            return "Ledger:MessageBytesMax must be at least 65536";
        }

        if (BatchDigestsMax > Sequencing.BatchCodec.EntriesMax || DigestsPerRequestMax > Sequencing.BatchCodec.DigestsPerEntryMax)
        {
            return $"Ledger: BatchDigestsMax must be at most {Sequencing.BatchCodec.EntriesMax} and DigestsPerRequestMax at most {Sequencing.BatchCodec.DigestsPerEntryMax} (what a logged batch may hold)";
        }

        if (BatchDigestsMax < 1 || QueueDigestsMax < BatchDigestsMax || QueueDigestsMax < DigestsPerRequestMax)
        {
            return "Ledger: need 1 <= BatchDigestsMax <= QueueDigestsMax and DigestsPerRequestMax <= QueueDigestsMax";
        }

        if (InFlightBatchesMax is < 1 or > 1024 || BatchLingerMs is < 0 or > 5000 || CheckpointIntervalMs is < 0 or > 60_000)
        {
            return "Ledger: InFlightBatchesMax 1..1024, BatchLingerMs 0..5000, CheckpointIntervalMs 0..60000";
        }

        if (ClockSkewMs is < 1_000 or > 3_600_000 || TickMs is < 5 or > 1_000 || ElectionTimeoutTicks is < 3 or > 1_000)
        {
            return "Ledger: ClockSkewMs 1000..3600000, TickMs 5..1000, ElectionTimeoutTicks 3..1000";
        }

        if (ClockOffsetMs is < -ClockOffsetMsMax or > ClockOffsetMsMax)
        {
            return "Ledger:ClockOffsetMs (a test setting) must be within one day either way";
        }

        if (ScrubIntervalMinutes is < 0 or > 10_080)
        {
            return "Ledger:ScrubIntervalMinutes (--scrub-interval-minutes) must be between 0 (off) and 10080 (a week)";
        }

        if (NonceWindowMs < 1_000 || NoncesMax < 1_000)
        {
            return "Ledger: NonceWindowMs must be at least 1000 and NoncesMax at least 1000";
        }

        return null;
    }
}
