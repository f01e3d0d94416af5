using Ledger.TestKit;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Net.Client;
using Ledger.Node.Hosting;
using Ledger.Node.Tests.Support;
using Ledger.Sdk.Protos.V1;

namespace Ledger.Node.Tests;

public sealed class ListenerTests
{
    [Fact]
    public async Task An_https_listener_serves_with_the_given_certificate()
    {
        using var dir = new TempDirectory("ledger-node-tests");
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var certificatePath = Path.Combine(dir.Path, "node.crt");
        var keyPath = Path.Combine(dir.Path, "node.key");
        await File.WriteAllTextAsync(certificatePath, certificate.ExportCertificatePem());
        await File.WriteAllTextAsync(keyPath, key.ExportPkcs8PrivateKeyPem());

        await using var node = await InProcessNode.StartAsync("--listen", "https://127.0.0.1:0", "--tls-certificate", certificatePath, "--tls-key", keyPath);
        Assert.StartsWith("https://", node.Host.Address, StringComparison.Ordinal);
        using var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, presented, _, _) =>
            presented is not null && presented.GetCertHashString() == certificate.GetCertHashString();
        using var channel = GrpcChannel.ForAddress(node.Host.Address, new GrpcChannelOptions { HttpHandler = handler });
        var status = await new Sdk.Protos.V1.Ledger.LedgerClient(channel).GetStatusAsync(new GetStatusRequest());
        Assert.Equal(node.Origin, status.Origin);
    }

    [Theory]
    [InlineData("http://10.1.2.3:7400", "refusing plain HTTP/2")]
    [InlineData("https://127.0.0.1:0", "--tls-certificate")]
    [InlineData("ftp://127.0.0.1:7400", "not an http:// or https:// address")]
    public void A_listener_that_is_not_safe_or_not_usable_is_refused_at_start(string listen, string messagePart)
    {
        using var dir = new TempDirectory("ledger-node-tests");
        var exception = Assert.Throws<NodeStartException>(() => NodeProgram.Build(["--data-dir", dir.Path, "--listen", listen]));
        Assert.Contains(messagePart, exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_address_another_process_holds_is_refused_with_what_to_do_and_the_data_directory_is_released()
    {
        await using var holder = await InProcessNode.StartAsync();
        using var dir = new TempDirectory("ledger-node-tests");
        var arguments = new[] { "--data-dir", dir.Path, "--listen", holder.Host.Address };
        var refused = await Assert.ThrowsAsync<NodeStartException>(() => NodeHost.StartAsync(arguments, TextWriter.Null));
        Assert.Contains($"cannot listen on {holder.Host.Address}", refused.Message, StringComparison.Ordinal);
        Assert.Contains("--listen", refused.Message, StringComparison.Ordinal);

        // Nothing of the refused start holds the data directory: it starts on a free port.
        await using var started = await NodeHost.StartAsync(["--data-dir", dir.Path, "--listen", "http://127.0.0.1:0"], TextWriter.Null);
        Assert.NotEqual(holder.Host.Address, started.Address);
    }

    [Theory]
    [InlineData("https://127.0.0.1:9400")]
    [InlineData("http://localhost:9400")]
    [InlineData("http://127.0.0.1:7400")]
    [InlineData("not an address")]
    public void A_metrics_listener_that_is_not_a_plain_ip_address_on_its_own_port_is_refused_at_start(string metrics)
    {
        using var dir = new TempDirectory("ledger-node-tests");
        var exception = Assert.Throws<NodeStartException>(() =>
            NodeProgram.Build(["--data-dir", dir.Path, "--listen", "http://127.0.0.1:7400", "--metrics-listen", metrics]));
        Assert.Contains("--metrics-listen", exception.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "state")));
    }
}
