using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Gantry.Core.Security;

/// <summary>
/// A certificate's public-key pin as kubeadm writes it (<c>--discovery-token-ca-cert-hash</c>):
/// <c>sha256:</c> and the lowercase hex of the SHA-256 of its SubjectPublicKeyInfo (DER). It names the
/// key, not the certificate, so a CA re-issued with the same key keeps its pin.
/// </summary>
public static class CertificatePin
{
    /// <summary>What every pin starts with.</summary>
    public const string Prefix = "sha256:";

    /// <summary>The pin of <paramref name="certificate"/>'s public key.</summary>
    public static string Of(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var spki = certificate.PublicKey.ExportSubjectPublicKeyInfo();
        return Prefix + Convert.ToHexStringLower(SHA256.HashData(spki));
    }

    /// <summary>
    /// Reads <c>sha256:HEX</c> (64 hex digits, either case) into its canonical lowercase form.
    /// </summary>
    /// <exception cref="FormatException">It is not such a pin.</exception>
    public static string Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var trimmed = text.Trim();
        var hex = trimmed.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase) ? trimmed[Prefix.Length..] : null;
        return hex is { Length: 64 } && hex.All(char.IsAsciiHexDigit)
            ? Prefix + hex.ToLowerInvariant()
            : throw new FormatException("expected sha256: and 64 hex digits (the SHA-256 of the CA certificate's public key), as 'gantry server' prints it");
    }

    /// <summary>A certificate in words for messages: its pin and common name.</summary>
    public static string Describe(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return $"{Of(certificate)} ({certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false)})";
    }

    /// <summary>
    /// The certificates in the PEM file at <paramref name="path"/>, in file order.
    /// </summary>
    /// <exception cref="FormatException">The file cannot be read or holds no certificate; the message says which.</exception>
    public static X509Certificate2Collection ReadPemFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var certificates = new X509Certificate2Collection();
        try
        {
            certificates.ImportFromPemFile(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new FormatException($"cannot read {path}: {ex.Message}", ex);
        }
        catch (CryptographicException ex)
        {
            throw new FormatException($"{path} holds a certificate that does not parse: {ex.Message}", ex);
        }

        return certificates.Count > 0 ? certificates : throw new FormatException($"{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
    }
}
