using Ledger.Chaos.Tool;
using Ledger.Sdk;
using Ledger.TestKit;

namespace Ledger.Chaos.Tests.Support;

/// <summary>A member whose answers come from a <see cref="ReceiptFixture"/> tree; a test changes what it serves to plant one fault.</summary>
internal sealed class FakeMember(ReceiptFixture fixture, string name) : IMemberSource
{
    public string Name { get; } = name;

    /// <summary>The leaves served (by default the fixture's).</summary>
    public List<byte[]> Leaves { get; } = [.. fixture.Leaves.Select(leaf => leaf.Encode())];

    /// <summary>Digests (hex) this member says it has no receipt for.</summary>
    public HashSet<string> ReceiptsWithheld { get; } = new(StringComparer.Ordinal);

    /// <summary>Signers of the checkpoint in receipts and heads (by default the first quorum of members).</summary>
    public IReadOnlyList<SignerKey>? CheckpointSigners { get; set; }

    public Task<(ulong TreeSize, string Checkpoint)> HeadAsync(CancellationToken cancellationToken) =>
        Task.FromResult(((ulong)Leaves.Count, fixture.SignedCheckpoint(signers: CheckpointSigners)));

    public Task<IReadOnlyList<byte[]>> EntriesAsync(ulong start, ulong count, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<byte[]>>([.. Leaves.Skip((int)start).Take((int)count)]);

    public Task<IReadOnlyList<string?>> ReceiptsAsync(IReadOnlyList<byte[]> digests, string issuer, CancellationToken cancellationToken)
    {
        var checkpoint = fixture.SignedCheckpoint(signers: CheckpointSigners);
        var receipts = digests.Select(digest =>
        {
            var index = fixture.Leaves.ToList().FindIndex(leaf => leaf.Digest.AsSpan().SequenceEqual(digest) && leaf.Issuer == issuer);
            return index < 0 || ReceiptsWithheld.Contains(Convert.ToHexStringLower(digest)) ? null : fixture.ReceiptFor((ulong)index, checkpoint).ToText();
        });
        return Task.FromResult<IReadOnlyList<string?>>([.. receipts]);
    }

    public Task<IReadOnlyList<byte[]>> ConsistencyProofAsync(ulong oldSize, ulong newSize, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<byte[]>>(fixture.Tree.ConsistencyProof(oldSize, newSize));
}
