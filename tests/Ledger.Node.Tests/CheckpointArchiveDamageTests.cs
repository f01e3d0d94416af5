using System.Security.Cryptography;
using System.Text;
using Ledger.Node.Checkpoints;
using Ledger.Node.Tests.Support;
using Ledger.Sdk;
using Ledger.Sdk.Client;
using Ledger.Sdk.Protos.V1;
using Ledger.TestKit;

namespace Ledger.Node.Tests;

/// <summary>
/// The checkpoint archive (LiteDB) keeps no checksums of its own. What a node reads back from it at
/// start is checked like a client would check it (origin, a quorum of member signatures) and against
/// the node's own tree (the root at that size); a record that fails, or a file LiteDB cannot read,
/// is discarded and the node signs its tree afresh. A damaged checkpoint is never served.
/// </summary>
public sealed class CheckpointArchiveDamageTests
{
    private const string ArchiveName = "checkpoints.db";
    private const int Digests = 1_000;
    private static readonly TimeSpan SignedWithin = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_flipped_bit_in_an_archived_signature_is_not_served_and_the_tree_is_signed_again()
    {
        var first = await InProcessNode.StartAsync();
        var node = first;
        try
        {
            var signed = await AnchorAndWaitForCheckpointAsync(first);
            var flipped = false;
            node = await first.RestartAsync(dataDir => flipped = FlipBitInSignature(dataDir, signed));
            Assert.True(flipped, "the archived signature was not found in the archive's files");

            // Signed again, the same tree gives the same text as before the damage (Ed25519 is deterministic).
            await AssertServesValidCheckpointAsync(node, signed.TreeSize);
            Assert.Equal(signed.Text, node.Host.Node.Signer.Latest.Text);

            // The archive works again: a later checkpoint is kept and served after another restart.
            var later = await AnchorAndWaitForCheckpointAsync(node);
            node = await node.RestartAsync();
            Assert.Equal(later.Text, node.Host.Node.Signer.Latest.Text);
            await AssertServesValidCheckpointAsync(node, later.TreeSize);
        }
        finally
        {
            await node.DisposeAsync();
        }
    }

    [Fact]
    public async Task An_archive_file_that_cannot_be_read_is_replaced_and_the_node_starts()
    {
        var first = await InProcessNode.StartAsync();
        var node = first;
        try
        {
            var signed = await AnchorAndWaitForCheckpointAsync(first);
            node = await first.RestartAsync(dataDir =>
            {
                // Garbage over the first page, where LiteDB keeps its header.
                using var stream = new FileStream(Path.Combine(dataDir, ArchiveName), FileMode.Open, FileAccess.ReadWrite);
                stream.Write(RandomNumberGenerator.GetBytes(4_096));
            });

            await AssertServesValidCheckpointAsync(node, signed.TreeSize);
        }
        finally
        {
            await node.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_checkpoint_of_another_ledger_in_the_archive_is_not_served()
    {
        var other = await InProcessNode.StartAsync();
        SignedCheckpointText foreign;
        string otherDir;
        try
        {
            foreign = await AnchorAndWaitForCheckpointAsync(other);
            otherDir = other.DataDir;
            await other.StopAsync();
            var archive = await File.ReadAllBytesAsync(Path.Combine(otherDir, ArchiveName));

            var first = await InProcessNode.StartAsync();
            var node = first;
            try
            {
                await AnchorAndWaitForCheckpointAsync(first);
                node = await first.RestartAsync(dataDir =>
                {
                    File.Delete(Path.Combine(dataDir, "checkpoints-log.db"));
                    File.WriteAllBytes(Path.Combine(dataDir, ArchiveName), archive);
                });

                await AssertServesValidCheckpointAsync(node, Digests);
                Assert.NotEqual(foreign.Text, node.Host.Node.Signer.Latest.Text);
            }
            finally
            {
                await node.DisposeAsync();
            }
        }
        finally
        {
            await other.DisposeAsync();
        }
    }

    [Fact]
    public void An_archived_checkpoint_larger_than_the_applied_tree_is_not_served()
    {
        // What a member rebuilding its state from the Raft log finds: an archive ahead of its tree.
        using var dir = new TempDirectory();
        using var archive = new CheckpointArchive(dir.File(Hosting.LedgerNode.ArchiveName));
        archive.Save(10, "a checkpoint of ten leaves\n", 0);
        var state = new State.LedgerState(new Storage.InMemoryKeyValueStore());
        var signer = new CheckpointSigner(state, archive, (_, _, _) => Task.FromResult<string?>(null), 0, () => 0);
        Assert.Equal(0UL, signer.Latest.TreeSize);
        Assert.Equal("", signer.Latest.Text);
        Assert.True(signer.IsBehind);
    }

    private static async Task<SignedCheckpointText> AnchorAndWaitForCheckpointAsync(InProcessNode node)
    {
        var digests = Enumerable.Range(0, Digests).Select(_ => RandomNumberGenerator.GetBytes(32)).ToArray();
        await node.Client.AnchorAsync(LedgerClient.BuildAnchorRequest(node.Origin, node.IssuerKey, digests, includeReceipts: false));
        var size = node.Host.Node.State.TreeSize;
        using var timeout = new CancellationTokenSource(SignedWithin);
        return await node.Host.Node.Signer.WaitForSizeAsync(size, timeout.Token);
    }

    private static async Task AssertServesValidCheckpointAsync(InProcessNode node, ulong atLeast)
    {
        using var timeout = new CancellationTokenSource(SignedWithin);
        await node.Host.Node.Signer.WaitForSizeAsync(atLeast, timeout.Token);
        var served = await node.Client.GetCheckpointAsync(new GetCheckpointRequest());
        var verification = new CheckpointVerifier(node.Consortium).Verify(served.Checkpoint);
        Assert.True(verification.IsValid, $"the node served a checkpoint that does not verify: {verification.Reason}");
        Assert.Equal(served.TreeSize, verification.Checkpoint!.Size);
        Assert.Equal(node.Host.Node.State.RootAt(served.TreeSize), verification.Checkpoint!.Root);
    }

    /// <summary>Flips one bit inside the base64 signature of <paramref name="signed"/>, wherever LiteDB keeps the text.</summary>
    private static bool FlipBitInSignature(string dataDir, SignedCheckpointText signed)
    {
        var lines = signed.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var signatureLine = Encoding.UTF8.GetBytes(lines[^1]);
        var flipped = false;
        foreach (var file in Directory.EnumerateFiles(dataDir, "checkpoints*.db"))
        {
            var bytes = File.ReadAllBytes(file);
            for (var at = bytes.AsSpan().IndexOf(signatureLine); at >= 0; at = IndexAfter(bytes, signatureLine, at))
            {
                // A character of the signature's base64, well before its padding.
                bytes[at + signatureLine.Length - 8] ^= 0x02;
                flipped = true;
            }

            File.WriteAllBytes(file, bytes);
        }

        return flipped;
    }

    private static int IndexAfter(byte[] bytes, byte[] value, int previous)
    {
        var next = bytes.AsSpan(previous + 1).IndexOf(value);
        return next < 0 ? -1 : previous + 1 + next;
    }
}
