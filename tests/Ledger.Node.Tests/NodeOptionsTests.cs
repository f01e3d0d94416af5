using Ledger.Node.Hosting;
using Ledger.Node.Sequencing;

namespace Ledger.Node.Tests;

public sealed class NodeOptionsTests
{
    [Fact]
    public void Defaults_are_valid() => Assert.Null(new NodeOptions().Validate());

    [Fact]
    public void A_batch_larger_than_the_log_codec_can_hold_is_refused_at_start()
    {
        var options = new NodeOptions { BatchDigestsMax = BatchCodec.EntriesMax + 1, QueueDigestsMax = 2 * BatchCodec.EntriesMax };
        Assert.Contains($"BatchDigestsMax must be at most {BatchCodec.EntriesMax}", options.Validate(), StringComparison.Ordinal);
        Assert.Null(new NodeOptions { BatchDigestsMax = BatchCodec.EntriesMax, QueueDigestsMax = 2 * BatchCodec.EntriesMax }.Validate());
    }

    [Fact]
    public void A_request_larger_than_a_logged_entry_can_hold_is_refused_at_start()
    {
        var options = new NodeOptions { DigestsPerRequestMax = BatchCodec.DigestsPerEntryMax + 1, QueueDigestsMax = 2 * BatchCodec.DigestsPerEntryMax };
        Assert.NotNull(options.Validate());
    }
}
