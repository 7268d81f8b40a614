using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Gantry.Core.Security;
using Gantry.Server.Tls;
using Gantry.Testing;

namespace Gantry.Server.Tests.Tls;

/// <summary>HTTPS on a real Kestrel with certificates made in the test: what is served, reloading, the CA endpoint.</summary>
public sealed class ServerTlsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gantry-tls-").FullName;
    private readonly TestCa _ca = TestCa.Create();

    public void Dispose()
    {
        _ca.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Handshake_FilesReplaced_NextConnectionSeesTheNewCertificate()
    {
        var first = _ca.WriteServerPair(_dir, "first");
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await ServerHarness.StartAsync(time, configure: o => (o.TlsCert, o.TlsKey) = (first.Certificate, first.Key));
        Assert.Equal("https", server.Address.Scheme);
        using (var served = await HandshakeAsync(server.Address))
        {
            Assert.Equal(first.Issued.Thumbprint, served.Thumbprint);
        }

        // Replaced in place, as certbot or cert-manager does; looked at again once the check interval passed.
        var second = _ca.WriteServerPair(_dir, "second");
        File.Copy(second.Certificate, first.Certificate, overwrite: true);
        File.Copy(second.Key, first.Key, overwrite: true);
        time.Advance(ServerCertificate.CheckEvery + TimeSpan.FromSeconds(1));
        using (var served = await HandshakeAsync(server.Address))
        {
            Assert.Equal(second.Issued.Thumbprint, served.Thumbprint);
        }

        // A key that does not belong to the new certificate: the one in use stays.
        var third = _ca.WriteServerPair(_dir, "third");
        File.Copy(third.Certificate, first.Certificate, overwrite: true);
        File.WriteAllText(first.Key, "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n");
        time.Advance(ServerCertificate.CheckEvery + TimeSpan.FromSeconds(1));
        using (var served = await HandshakeAsync(server.Address))
        {
            Assert.Equal(second.Issued.Thumbprint, served.Thumbprint);
        }

        // The matching key arrives: now the third is served.
        File.Copy(third.Key, first.Key, overwrite: true);
        File.SetLastWriteTimeUtc(first.Key, DateTime.UtcNow.AddSeconds(5));
        time.Advance(ServerCertificate.CheckEvery + TimeSpan.FromSeconds(1));
        using (var served = await HandshakeAsync(server.Address))
        {
            Assert.Equal(third.Issued.Thumbprint, served.Thumbprint);
        }
    }

    [Fact]
    public async Task CaEndpoint_TlsCertWithChain_ServesTheIssuingCaWithoutAToken()
    {
        var pair = _ca.WriteServerPair(_dir, "server");
        await using var server = await ServerHarness.StartAsync(configure: o => (o.TlsCert, o.TlsKey) = (pair.Certificate, pair.Key));
        using var http = TrustingClient(server.Address);

        var pem = await http.GetStringAsync("/api/v1/tls/ca");

        var served = X509Certificate2.CreateFromPem(pem);
        Assert.Equal(_ca.Pin, CertificatePin.Of(served));
        Assert.Equal("ok\n", await http.GetStringAsync("/healthz"));
    }

    [Fact]
    public async Task CaEndpoint_PlainHttp_IsNotFound()
    {
        await using var server = await ServerHarness.StartAsync();
        using var response = await server.Anonymous.GetAsync("/api/v1/tls/ca");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    private HttpClient TrustingClient(Uri address) =>
        new(new SocketsHttpHandler { SslOptions = new SslClientAuthenticationOptions { CertificateChainPolicy = TrustTheCa() } }) { BaseAddress = address };

    private X509ChainPolicy TrustTheCa() => new()
    {
        TrustMode = X509ChainTrustMode.CustomRootTrust,
        CustomTrustStore = { _ca.Certificate },
        RevocationMode = X509RevocationMode.NoCheck,
    };

    /// <summary>One TLS handshake with the server, verified against the test's CA; the certificate it presented.</summary>
    private async Task<X509Certificate2> HandshakeAsync(Uri address)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(address.Host, address.Port);
        await using var tls = new SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost", CertificateChainPolicy = TrustTheCa() });
        return new X509Certificate2(tls.RemoteCertificate!);
    }
}
