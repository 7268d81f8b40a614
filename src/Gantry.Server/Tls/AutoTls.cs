using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Gantry.Server.Tls;

/// <summary>
/// <c>--tls auto</c>: a CA of the server's own and a certificate it signs, kept in <c>&lt;data-dir&gt;/tls</c>.
/// At first start the CA (ECDSA P-256, 10 years) and the server certificate are made; afterwards both are
/// reused, and the server certificate alone is made again (by the same CA, so the agents' pin holds) when it
/// expires within <see cref="RenewBefore"/> or does not name the listen address.
/// </summary>
internal static class AutoTls
{
    /// <summary>How long the CA is valid.</summary>
    public static readonly TimeSpan CaLifetime = TimeSpan.FromDays(3653);

    /// <summary>How long a server certificate is valid.</summary>
    public static readonly TimeSpan ServerLifetime = TimeSpan.FromDays(397);

    /// <summary>A server certificate that expires sooner than this is made again at start.</summary>
    public static readonly TimeSpan RenewBefore = TimeSpan.FromDays(30);

    /// <summary>The folder under the data dir.</summary>
    public const string Folder = "tls";

    /// <summary>What <see cref="Ensure"/> found or made.</summary>
    /// <param name="CertificatePath"><c>tls/server.crt</c>: the server certificate, then the CA.</param>
    /// <param name="KeyPath"><c>tls/server.key</c>.</param>
    /// <param name="CaPath"><c>tls/ca.crt</c>.</param>
    /// <param name="Made">The files written now.</param>
    public sealed record Files(string CertificatePath, string KeyPath, string CaPath, IReadOnlyList<string> Made);

    /// <summary>
    /// Makes what is missing or due in <c>&lt;dataDir&gt;/tls</c> and returns the paths. Throws
    /// <see cref="IOException"/> or <see cref="InvalidOperationException"/> with a readable message when the
    /// files cannot be written or the CA there cannot be read.
    /// </summary>
    public static Files Ensure(string dataDir, IPEndPoint listen, TimeProvider time)
    {
        var folder = Path.Combine(dataDir, Folder);
        Directory.CreateDirectory(folder);
        var caPath = Path.Combine(folder, "ca.crt");
        var caKeyPath = Path.Combine(folder, "ca.key");
        var certificatePath = Path.Combine(folder, "server.crt");
        var keyPath = Path.Combine(folder, "server.key");
        var now = time.GetUtcNow();
        var made = new List<string>();

        X509Certificate2 ca;
        if (File.Exists(caPath) && File.Exists(caKeyPath))
        {
            try
            {
                ca = X509Certificate2.CreateFromPemFile(caPath, caKeyPath);
            }
            catch (Exception ex) when (ex is CryptographicException or ArgumentException)
            {
                throw new InvalidOperationException($"--tls auto: cannot use the CA in {folder} ({ex.Message}); move {caPath} and {caKeyPath} away to make a new one (agents must then be given its new pin)", ex);
            }
        }
        else
        {
            ca = MakeCa(now);
            WriteFile(caKeyPath, ca.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem(), secret: true);
            WriteFile(caPath, ca.ExportCertificatePem() + "\n", secret: false);
            made.Add(caPath);
            made.Add(caKeyPath);
        }

        using (ca)
        {
            var names = SubjectNames(listen);
            if (made.Count > 0 || !Usable(certificatePath, keyPath, ca, names, now))
            {
                using var server = MakeServer(ca, names, now);
                WriteFile(keyPath, server.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem(), secret: true);
                // The chain in one file: the server certificate, then the CA that signed it.
                WriteFile(certificatePath, server.ExportCertificatePem() + "\n" + ca.ExportCertificatePem() + "\n", secret: false);
                made.Add(certificatePath);
                made.Add(keyPath);
            }
        }

        return new Files(certificatePath, keyPath, caPath, made);
    }

    /// <summary>
    /// The names the server certificate carries: localhost, the loopback addresses, the machine's host name,
    /// and the listen address when it is one address rather than every one.
    /// </summary>
    internal static (IReadOnlyList<string> Dns, IReadOnlyList<IPAddress> Addresses) SubjectNames(IPEndPoint listen)
    {
        var dns = new List<string> { "localhost" };
        var host = Environment.MachineName;
        if (!string.IsNullOrEmpty(host) && !dns.Contains(host, StringComparer.OrdinalIgnoreCase))
        {
            dns.Add(host);
        }

        var addresses = new List<IPAddress> { IPAddress.Loopback, IPAddress.IPv6Loopback };
        var address = listen.Address.IsIPv4MappedToIPv6 ? listen.Address.MapToIPv4() : listen.Address;
        if (!address.Equals(IPAddress.Any) && !address.Equals(IPAddress.IPv6Any) && !addresses.Contains(address))
        {
            addresses.Add(address);
        }

        return (dns, addresses);
    }

    private static X509Certificate2 MakeCa(DateTimeOffset now)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=Gantry CA {Environment.MachineName}, O=Gantry", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        // An hour back: a client whose clock is a little behind still accepts it.
        return request.CreateSelfSigned(now.AddHours(-1), now + CaLifetime);
    }

    private static X509Certificate2 MakeServer(X509Certificate2 ca, (IReadOnlyList<string> Dns, IReadOnlyList<IPAddress> Addresses) names, DateTimeOffset now)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={names.Dns[^1]}, O=Gantry", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var dns in names.Dns)
        {
            san.AddDnsName(dns);
        }

        foreach (var address in names.Addresses)
        {
            san.AddIpAddress(address);
        }

        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        var notAfter = now + ServerLifetime < ca.NotAfter.ToUniversalTime() ? now + ServerLifetime : new DateTimeOffset(ca.NotAfter.ToUniversalTime());
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        using var certificate = request.Create(ca, now.AddHours(-1), notAfter, serial);
        return certificate.CopyWithPrivateKey(key);
    }

    // The existing server certificate is kept when it was signed by this CA, is valid for a while yet and
    // names every address it should.
    private static bool Usable(string certificatePath, string keyPath, X509Certificate2 ca, (IReadOnlyList<string> Dns, IReadOnlyList<IPAddress> Addresses) names, DateTimeOffset now)
    {
        if (!File.Exists(certificatePath) || !File.Exists(keyPath))
        {
            return false;
        }

        try
        {
            using var existing = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
            if (existing.NotAfter.ToUniversalTime() - now.UtcDateTime < RenewBefore || existing.Issuer != ca.Subject)
            {
                return false;
            }

            var san = existing.Extensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault();
            var addresses = san?.EnumerateIPAddresses().ToList() ?? [];
            return names.Addresses.All(addresses.Contains);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            return false;
        }
    }

    // Written whole to a temporary file and renamed over the old one; keys are the owner's only (0600).
    private static void WriteFile(string path, string text, bool secret)
    {
        var temporary = path + ".tmp";
        File.Delete(temporary);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = secret ? UnixFileMode.UserRead | UnixFileMode.UserWrite : UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
        }

        using (var stream = new FileStream(temporary, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(text);
        }

        File.Move(temporary, path, overwrite: true);
    }
}
