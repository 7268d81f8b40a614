using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Gantry.Core.Security;

/// <summary>
/// How a client (an agent, the CLI) decides to trust an https server: against the system's CA store, against
/// the CAs of a file (<c>--ca-file</c>), and/or against a CA known only by its public-key pin
/// (<c>--ca-cert-hash</c>), as kubeadm's discovery does. A pinned CA the client does not hold is fetched
/// from the server (<c>GET /api/v1/tls/ca</c>, docs/tls.md) and adopted by <see cref="Adopt"/> only when its
/// key has the pin; from then on it is the trust anchor, and the chain, its validity dates and the host
/// name are checked against it as for any CA. Thread-safe: one instance serves every connection.
/// </summary>
public sealed class ServerTrust
{
    private readonly X509Certificate2Collection? _authorities;
    private X509Certificate2Collection? _adopted;

    /// <param name="authorities">The CAs of <c>--ca-file</c>; null for the system store (or the pinned CA).</param>
    /// <param name="pin">The CA's pin (<see cref="CertificatePin"/>); null for none.</param>
    public ServerTrust(X509Certificate2Collection? authorities, string? pin)
    {
        _authorities = authorities is { Count: > 0 } ? authorities : null;
        Pin = pin;
    }

    /// <summary>The pin of the CA the server's chain must lead to; null for none.</summary>
    public string? Pin { get; }

    /// <summary>True while the pinned CA must still be fetched from the server: a pin and no CA file.</summary>
    public bool NeedsDiscovery => Pin is not null && _authorities is null && Volatile.Read(ref _adopted) is null;

    /// <summary>Why the last certificate was refused, in words (for the error a failed request ends in).</summary>
    public string? LastProblem { get; private set; }

    /// <summary>
    /// Takes the certificate of <paramref name="offered"/> whose key has <see cref="Pin"/> as the trust anchor;
    /// returns null, or why none qualifies, naming the pins seen and the one expected.
    /// </summary>
    public string? Adopt(X509Certificate2Collection offered)
    {
        ArgumentNullException.ThrowIfNull(offered);
        foreach (var certificate in offered)
        {
            if (CertificatePin.Of(certificate) == Pin)
            {
                Volatile.Write(ref _adopted, [certificate]);
                return null;
            }
        }

        var seen = offered.Count == 0 ? "no certificate" : string.Join(", ", offered.Select(CertificatePin.Describe));
        return $"the server's CA does not have the pinned public key: expected {Pin} (--ca-cert-hash), the server offered {seen}";
    }

    /// <summary>A <see cref="RemoteCertificateValidationCallback"/>: <see cref="Check"/>, remembering the problem.</summary>
    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        using var leaf = certificate is null ? null : new X509Certificate2(certificate);
        var problem = Check(leaf, chain, errors);
        LastProblem = problem;
        return problem is null;
    }

    /// <summary>
    /// Null when the server's certificate <paramref name="leaf"/> (with the chain the TLS stack built and
    /// the certificates the server sent, in <paramref name="chain"/>) is trusted; else why not.
    /// </summary>
    public string? Check(X509Certificate2? leaf, X509Chain? chain, SslPolicyErrors errors)
    {
        if (leaf is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            return "the server sent no certificate";
        }

        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
        {
            return $"its certificate ({leaf.GetNameInfo(X509NameType.SimpleName, false)}) is not for the host name in the URL";
        }

        var anchors = _authorities ?? Volatile.Read(ref _adopted);
        if (anchors is null)
        {
            return Pin is not null ? "the pinned CA was not fetched from the server yet"
                : errors == SslPolicyErrors.None ? null
                : Describe(chain?.ChainStatus ?? [], "not signed by a CA in the system's store");
        }

        using var own = new X509Chain();
        own.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        own.ChainPolicy.CustomTrustStore.AddRange(anchors);
        own.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        own.ChainPolicy.DisableCertificateDownloads = true;
        if (chain is not null)
        {
            own.ChainPolicy.ExtraStore.AddRange(chain.ChainPolicy.ExtraStore);
            foreach (var element in chain.ChainElements)
            {
                own.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        if (!own.Build(leaf))
        {
            return Describe(own.ChainStatus, _authorities is not null ? "not signed by a CA in --ca-file" : "not signed by the pinned CA");
        }

        if (Pin is not null && !own.ChainElements.Any(e => CertificatePin.Of(e.Certificate) == Pin))
        {
            return $"no certificate in its chain has the pinned public key {Pin} (--ca-cert-hash); the chain is {string.Join(", ", own.ChainElements.Select(e => CertificatePin.Describe(e.Certificate)))}";
        }

        return null;
    }

    private static string Describe(X509ChainStatus[] statuses, string fallback)
    {
        var reasons = new List<string>();
        foreach (var status in statuses)
        {
            var reason = status.Status switch
            {
                X509ChainStatusFlags.NoError => null,
                X509ChainStatusFlags.UntrustedRoot or X509ChainStatusFlags.PartialChain => fallback,
                X509ChainStatusFlags.NotTimeValid => "expired or not yet valid",
                _ => status.StatusInformation.Trim() is { Length: > 0 } information ? information : status.Status.ToString(),
            };
            if (reason is not null && !reasons.Contains(reason))
            {
                reasons.Add(reason);
            }
        }

        return reasons.Count == 0 ? fallback : string.Join("; ", reasons);
    }
}
