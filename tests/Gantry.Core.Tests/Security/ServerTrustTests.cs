using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Gantry.Core.Security;

namespace Gantry.Core.Tests.Security;

/// <summary>How clients decide to trust a server's certificate: a CA file, a pinned CA, both, each refusal in words.</summary>
public sealed class ServerTrustTests : IDisposable
{
    private readonly X509Certificate2 _ca = Ca("CN=Test CA");
    private readonly X509Certificate2 _otherCa = Ca("CN=Other CA");

    public void Dispose()
    {
        _ca.Dispose();
        _otherCa.Dispose();
    }

    [Fact]
    public void Pin_IsTheSha256OfTheSubjectPublicKeyInfo()
    {
        var expected = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(_ca.PublicKey.ExportSubjectPublicKeyInfo()));
        Assert.Equal(expected, CertificatePin.Of(_ca));
        Assert.Equal(expected, CertificatePin.Parse("  " + expected.ToUpperInvariant().Replace("SHA256", "sha256", StringComparison.Ordinal) + "\n"));
        Assert.Throws<FormatException>(() => CertificatePin.Parse("sha1:" + new string('a', 40)));
        Assert.Throws<FormatException>(() => CertificatePin.Parse("sha256:" + new string('g', 64)));
    }

    [Fact]
    public void Check_CaFile_TrustsWhatItsCaSigned_RefusesTheRest()
    {
        using var leaf = Leaf(_ca);
        using var stranger = Leaf(_otherCa);
        var trust = new ServerTrust([_ca], pin: null);

        Assert.Null(trust.Check(leaf, null, SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.Equal("not signed by a CA in --ca-file", trust.Check(stranger, null, SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.Contains("is not for the host name in the URL", trust.Check(leaf, null, SslPolicyErrors.RemoteCertificateNameMismatch), StringComparison.Ordinal);
        Assert.Equal("the server sent no certificate", trust.Check(null, null, SslPolicyErrors.RemoteCertificateNotAvailable));
    }

    [Fact]
    public void Adopt_PinnedCa_BecomesTheAnchor_AWrongPinNamesBothHashes()
    {
        using var leaf = Leaf(_ca);
        var pin = CertificatePin.Of(_ca);
        var wrong = new ServerTrust(null, "sha256:" + new string('0', 64));
        Assert.True(wrong.NeedsDiscovery);
        var refused = wrong.Adopt([_ca]);
        Assert.Equal($"the server's CA does not have the pinned public key: expected sha256:{new string('0', 64)} (--ca-cert-hash), the server offered {pin} (Test CA)", refused);
        Assert.True(wrong.NeedsDiscovery);
        Assert.NotNull(wrong.Check(leaf, null, SslPolicyErrors.RemoteCertificateChainErrors));

        var right = new ServerTrust(null, pin);
        Assert.Null(right.Adopt([_otherCa, _ca]));
        Assert.False(right.NeedsDiscovery);
        Assert.Null(right.Check(leaf, null, SslPolicyErrors.RemoteCertificateChainErrors));
        using var stranger = Leaf(_otherCa);
        Assert.Equal("not signed by the pinned CA", right.Check(stranger, null, SslPolicyErrors.RemoteCertificateChainErrors));
    }

    [Fact]
    public void Check_CaFileAndPin_TheChainMustHoldThePinnedKey()
    {
        using var leaf = Leaf(_ca);
        var both = new ServerTrust([_ca, _otherCa], CertificatePin.Of(_otherCa));
        Assert.False(both.NeedsDiscovery);
        Assert.Contains("no certificate in its chain has the pinned public key " + CertificatePin.Of(_otherCa), both.Check(leaf, null, SslPolicyErrors.None), StringComparison.Ordinal);
        Assert.Null(new ServerTrust([_ca, _otherCa], CertificatePin.Of(_ca)).Check(leaf, null, SslPolicyErrors.None));
    }

    [Fact]
    public void Check_SelfSignedServerCertificate_PinsItself()
    {
        using var self = Ca("CN=localhost");
        var trust = new ServerTrust(null, CertificatePin.Of(self));
        Assert.Null(trust.Adopt([self]));
        Assert.Null(trust.Check(self, null, SslPolicyErrors.RemoteCertificateChainErrors));
    }

    private static X509Certificate2 Ca(string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.DigitalSignature, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }

    private static X509Certificate2 Leaf(X509Certificate2 issuer)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=server", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        return request.Create(issuer, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(7), RandomNumberGenerator.GetBytes(8));
    }
}
