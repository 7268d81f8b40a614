using System.Net;
using System.Security.Cryptography.X509Certificates;
using Gantry.Core.Security;
using Gantry.Server.Tls;
using Gantry.Testing;

namespace Gantry.Server.Tests.Tls;

/// <summary><c>--tls auto</c>: the CA and server certificate made at first start in the data dir, reused, renewed when due.</summary>
public sealed class AutoTlsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gantry-autotls-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Ensure_FirstStart_MakesAP256CaAndAServerCertificateItSigns()
    {
        var files = AutoTls.Ensure(_dir, new IPEndPoint(IPAddress.Parse("10.1.2.3"), 7070), TimeProvider.System);

        var folder = Path.Combine(_dir, "tls");
        Assert.Equal([Path.Combine(folder, "ca.crt"), Path.Combine(folder, "ca.key"), Path.Combine(folder, "server.crt"), Path.Combine(folder, "server.key")], files.Made);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(folder, "ca.key")));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(folder, "server.key")));
        }

        using var ca = X509Certificate2.CreateFromPem(File.ReadAllText(files.CaPath));
        using (var key = ca.GetECDsaPublicKey())
        {
            Assert.Equal(256, key!.KeySize);
        }

        Assert.InRange((ca.NotAfter - ca.NotBefore).TotalDays, 3650, 3660);
        Assert.True(ca.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);

        var chain = new X509Certificate2Collection();
        chain.ImportFromPemFile(files.CertificatePath);
        Assert.Equal(2, chain.Count);
        Assert.Equal(ca.Thumbprint, chain[1].Thumbprint);
        var san = chain[0].Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Equal(["localhost", Environment.MachineName], san.EnumerateDnsNames().ToArray());
        Assert.Equal([IPAddress.Loopback, IPAddress.IPv6Loopback, IPAddress.Parse("10.1.2.3")], san.EnumerateIPAddresses().ToArray());

        using var verify = new X509Chain();
        verify.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        verify.ChainPolicy.CustomTrustStore.Add(ca);
        verify.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        Assert.True(verify.Build(chain[0]), string.Join(", ", verify.ChainStatus.Select(s => s.StatusInformation)));
    }

    [Fact]
    public void Ensure_LaterStarts_ReuseTheCa_AndRenewTheServerCertificateWhenDue()
    {
        var listen = new IPEndPoint(IPAddress.Any, 7070);
        var first = AutoTls.Ensure(_dir, listen, TimeProvider.System);
        var ca = File.ReadAllText(first.CaPath);
        var server = File.ReadAllText(first.CertificatePath);

        var again = AutoTls.Ensure(_dir, listen, TimeProvider.System);
        Assert.Empty(again.Made);
        Assert.Equal(ca, File.ReadAllText(first.CaPath));
        Assert.Equal(server, File.ReadAllText(first.CertificatePath));

        // Within 30 days of the server certificate's end: a new one, from the same CA (agents' pins hold).
        var late = new FakeTimeProvider(DateTimeOffset.UtcNow + AutoTls.ServerLifetime - TimeSpan.FromDays(10));
        var renewed = AutoTls.Ensure(_dir, listen, late);
        Assert.Equal([first.CertificatePath, first.KeyPath], renewed.Made);
        Assert.Equal(ca, File.ReadAllText(first.CaPath));
        Assert.NotEqual(server, File.ReadAllText(first.CertificatePath));
        using var pair = CertificatePairFor(renewed);
        Assert.True(pair.NotAfter.ToUniversalTime() > late.GetUtcNow().UtcDateTime.AddDays(300));

        // A listen address the certificate does not name yet: made again too.
        var moved = AutoTls.Ensure(_dir, new IPEndPoint(IPAddress.Parse("192.0.2.7"), 7070), TimeProvider.System);
        Assert.Equal([first.CertificatePath, first.KeyPath], moved.Made);
    }

    [Fact]
    public async Task Start_TlsAuto_ServesTheCertificateAndPinsTheCa()
    {
        await using var server = await ServerHarness.StartAsync(configure: o => o.TlsAuto = true);
        var tls = (ServerTls)server.App.Services.GetService(typeof(ServerTls))!;
        using var ca = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(server.DataDir, "tls", "ca.crt")));
        Assert.Equal(CertificatePin.Of(ca), tls.Certificate.Pair.Pin);
        Assert.Equal("https", server.Address.Scheme);
    }

    private static X509Certificate2 CertificatePairFor(AutoTls.Files files) => X509Certificate2.CreateFromPemFile(files.CertificatePath, files.KeyPath);
}
