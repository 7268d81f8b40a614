using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Gantry.Testing;

/// <summary>
/// A real CA made in the test (ECDSA P-256) and server certificates it signs, written as PEM files the way an
/// operator would hand them to <c>gantry server --tls-cert --tls-key</c>.
/// </summary>
public sealed class TestCa : IDisposable
{
    private TestCa(X509Certificate2 certificate) => Certificate = certificate;

    /// <summary>The CA certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>
    /// The CA's pin, computed here on its own: <c>sha256:</c> and the hex of the SHA-256 of the
    /// SubjectPublicKeyInfo DER (what <c>openssl x509 -pubkey | openssl pkey -pubin -outform der | sha256sum</c> gives).
    /// </summary>
    public string Pin => PinOf(Certificate);

    /// <summary>The pin of any certificate, computed as <see cref="Pin"/>.</summary>
    public static string PinOf(X509Certificate2 certificate) =>
        "sha256:" + Convert.ToHexStringLower(SHA256.HashData(certificate.PublicKey.ExportSubjectPublicKeyInfo()));

    /// <summary>A new self-signed CA.</summary>
    public static TestCa Create(string name = "Gantry Test CA")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        return new TestCa(request.CreateSelfSigned(now.AddDays(-1), now.AddYears(1)));
    }

    /// <summary>Writes the CA certificate (PEM) to <paramref name="path"/> and returns the path.</summary>
    public string WriteCertificate(string path)
    {
        File.WriteAllText(path, Certificate.ExportCertificatePem() + "\n");
        return path;
    }

    /// <summary>
    /// Issues a server certificate for localhost and 127.0.0.1 (CN <paramref name="name"/>) and writes it with
    /// its key to <c>name.crt</c> and <c>name.key</c> in <paramref name="folder"/>; the certificate file holds
    /// the CA after the server certificate when <paramref name="withChain"/>.
    /// </summary>
    public (string Certificate, string Key, X509Certificate2 Issued) WriteServerPair(string folder, string name, bool withChain = true)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var now = DateTimeOffset.UtcNow;
        var issued = request.Create(Certificate, now.AddDays(-1), now.AddDays(30), RandomNumberGenerator.GetBytes(12));
        var certificatePath = Path.Combine(folder, name + ".crt");
        var keyPath = Path.Combine(folder, name + ".key");
        File.WriteAllText(certificatePath, issued.ExportCertificatePem() + "\n" + (withChain ? Certificate.ExportCertificatePem() + "\n" : ""));
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return (certificatePath, keyPath, issued);
    }

    public void Dispose() => Certificate.Dispose();
}
