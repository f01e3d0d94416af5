using BenchmarkDotNet.Attributes;
using Ledger.Sdk;
using Ledger.TestKit;

namespace Ledger.Benchmarks;

/// <summary>
/// Offline receipt verification on one thread. Cold: a verifier that has seen nothing (two Ed25519
/// signature checks, the proof and the leaf). Warm: 10,000 receipts under one checkpoint with one
/// verifier, which checks that checkpoint's signatures once.
/// </summary>
[MemoryDiagnoser]
public class ReceiptVerificationBenchmarks
{
    private const int ReceiptsUnderOneCheckpoint = 10_000;
    private ReceiptFixture _fixture = null!;
    private byte[][] _receipts = null!;
    private byte[] _one = null!;

    [GlobalSetup]
    public void Setup()
    {
        _fixture = new ReceiptFixture(memberCount: 3, quorum: 2, leafCount: ReceiptsUnderOneCheckpoint);
        var checkpoint = _fixture.SignedCheckpoint();
        _receipts = [.. Enumerable.Range(0, ReceiptsUnderOneCheckpoint)
            .Select(i => System.Text.Encoding.UTF8.GetBytes(_fixture.ReceiptFor((ulong)i, checkpoint).ToText()))];
        _one = _receipts[4321];
    }

    [Benchmark(Description = "cold: one receipt, two member signatures, fresh verifier")]
    public bool VerifyOneCold()
    {
        var result = new ReceiptVerifier(_fixture.Consortium).Verify(_one);
        return result.IsValid ? true : throw new InvalidOperationException(result.Reason);
    }

    [Benchmark(Description = "warm: 10,000 receipts under one checkpoint", OperationsPerInvoke = ReceiptsUnderOneCheckpoint)]
    public int VerifyManyUnderOneCheckpoint()
    {
        var verifier = new ReceiptVerifier(_fixture.Consortium);
        var valid = 0;
        foreach (var receipt in _receipts)
        {
            valid += verifier.Verify(receipt).IsValid ? 1 : 0;
        }

        return valid == ReceiptsUnderOneCheckpoint ? valid : throw new InvalidOperationException("a receipt failed");
    }
}
