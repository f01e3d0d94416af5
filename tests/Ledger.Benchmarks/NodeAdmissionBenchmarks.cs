using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using Ledger.Sdk;
using Ledger.Sdk.Client;

namespace Ledger.Benchmarks;

/// <summary>
/// The per-request cost of the anchor signature (ledger.proto, Anchor): the issuer builds and
/// signs the ledger.v1/anchor message, the node builds it again and verifies it. With B digests
/// per request this cost is paid once per B digests, which is what bounds small-request throughput.
/// </summary>
[MemoryDiagnoser]
public class NodeAdmissionBenchmarks
{
    private const string Origin = "bench.ledger/admission";
    private readonly SignerKey _issuer = SignerKey.Generate("bench-issuer");
    private readonly byte[] _nonce = RandomNumberGenerator.GetBytes(AnchorMessage.NonceLengthMin);
    private ReadOnlyMemory<byte>[] _digests = [];
    private byte[] _signature = [];

    [Params(1, 100, 10_000)]
    public int DigestsPerRequest { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _digests = Enumerable.Range(0, DigestsPerRequest).Select(_ => (ReadOnlyMemory<byte>)RandomNumberGenerator.GetBytes(32)).ToArray();
        _signature = _issuer.Sign(AnchorMessage.Build(Origin, _issuer.Name, 1, _nonce, _digests));
    }

    [Benchmark]
    public byte[] IssuerBuildsAndSigns() => _issuer.Sign(AnchorMessage.Build(Origin, _issuer.Name, 1, _nonce, _digests));

    [Benchmark]
    public bool NodeBuildsAndVerifies() => _issuer.Verifier.Verify(AnchorMessage.Build(Origin, _issuer.Name, 1, _nonce, _digests), _signature);
}
