using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Gantry.Core.Security;

namespace Gantry.Server.Tls;

/// <summary>
/// A server certificate read from PEM files: the leaf with its private key, the certificates that follow
/// it in the certificate file (its chain), and the certificate clients pin (<see cref="Pinned"/>).
/// </summary>
internal sealed class CertificatePair
{
    private CertificatePair(X509Certificate2 leaf, X509Certificate2Collection chain)
    {
        Leaf = leaf;
        Chain = chain;
        // kubeadm pins the CA. A file with a chain names it (the last certificate, nearest the root); a
        // lone certificate is pinned itself.
        Pinned = chain.Count > 0 ? chain[^1] : leaf;
        Context = SslStreamCertificateContext.Create(leaf, chain, offline: true);
    }

    /// <summary>The server's own certificate, with its private key.</summary>
    public X509Certificate2 Leaf { get; }

    /// <summary>The certificates after the leaf in the certificate file.</summary>
    public X509Certificate2Collection Chain { get; }

    /// <summary>The CA clients pin with <c>--ca-cert-hash</c>, and fetch from <c>/api/v1/tls/ca</c>.</summary>
    public X509Certificate2 Pinned { get; }

    /// <summary>The pin of <see cref="Pinned"/>.</summary>
    public string Pin => CertificatePin.Of(Pinned);

    /// <summary>What TLS handshakes present.</summary>
    public SslStreamCertificateContext Context { get; }

    /// <summary>
    /// Reads the pair; a problem throws <see cref="TlsFileException"/> naming the setting at fault
    /// (<c>tls-cert</c> or <c>tls-key</c>) and what is wrong.
    /// </summary>
    public static CertificatePair Load(string certificatePath, string keyPath, DateTimeOffset now)
    {
        X509Certificate2Collection certificates;
        try
        {
            certificates = CertificatePin.ReadPemFile(certificatePath);
        }
        catch (FormatException ex)
        {
            throw new TlsFileException("tls-cert", ex.Message, ex);
        }

        string keyPem;
        try
        {
            keyPem = File.ReadAllText(keyPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new TlsFileException("tls-key", $"cannot read {keyPath}: {ex.Message}", ex);
        }

        X509Certificate2 leaf;
        try
        {
            leaf = WithKey(certificates[0], keyPem);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            throw new TlsFileException("tls-key", $"{keyPath} holds no private key for the certificate in {certificatePath} (a PEM RSA or EC key that matches it): {ex.Message}", ex);
        }

        if (leaf.NotAfter.ToUniversalTime() < now.UtcDateTime)
        {
            throw new TlsFileException("tls-cert", $"the certificate in {certificatePath} expired on {leaf.NotAfter.ToUniversalTime():yyyy-MM-dd HH:mm} UTC");
        }

        var chain = new X509Certificate2Collection();
        for (var i = 1; i < certificates.Count; i++)
        {
            chain.Add(certificates[i]);
        }

        return new CertificatePair(leaf, chain);
    }

    // The key as a PEM of either kind; the certificate and the key must match, which CopyWithPrivateKey checks.
    // The copy is exported and imported again: SslStream on some platforms needs a key it can persist.
    private static X509Certificate2 WithKey(X509Certificate2 certificate, string keyPem)
    {
        X509Certificate2 paired;
        if (certificate.GetECDsaPublicKey() is { } ecPublic)
        {
            ecPublic.Dispose();
            using var ec = ECDsa.Create();
            ec.ImportFromPem(keyPem);
            paired = certificate.CopyWithPrivateKey(ec);
        }
        else
        {
            using var rsa = RSA.Create();
            rsa.ImportFromPem(keyPem);
            paired = certificate.CopyWithPrivateKey(rsa);
        }

        using (paired)
        {
            return X509CertificateLoader.LoadPkcs12(paired.Export(X509ContentType.Pkcs12), null);
        }
    }
}

/// <summary>A TLS certificate or key file that cannot be used; <see cref="Setting"/> names the setting at fault.</summary>
internal sealed class TlsFileException(string setting, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary><c>tls-cert</c> or <c>tls-key</c>.</summary>
    public string Setting { get; } = setting;
}
