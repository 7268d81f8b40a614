using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Gantry.Server.Alerts.Delivery;

/// <summary>
/// The signature on alert webhooks (Stripe's scheme): the header
/// <c>X-Gantry-Signature: t=1767225600,v1=5257a869…</c> holds the Unix time of the attempt and the hex
/// HMAC-SHA256 of <c>"&lt;t&gt;.&lt;body&gt;"</c> keyed with the shared secret
/// (<c>--alert-webhook-secret-file</c>). A receiver recomputes it over the raw body it got and
/// refuses a request whose time is further than a tolerance (five minutes is usual) from its clock,
/// so that a captured request cannot be replayed later. Every retry is signed afresh.
/// </summary>
public static class WebhookSignature
{
    /// <summary>The header that carries the signature.</summary>
    public const string HeaderName = "X-Gantry-Signature";

    /// <summary>The header's value for <paramref name="body"/> sent at <paramref name="now"/>.</summary>
    public static string Sign(string secret, ReadOnlySpan<byte> body, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(secret);
        var timestamp = now.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        return $"t={timestamp},v1={Convert.ToHexStringLower(Compute(secret, timestamp, body))}";
    }

    /// <summary>
    /// True when <paramref name="header"/> (the value of <see cref="HeaderName"/>) signs
    /// <paramref name="body"/> with <paramref name="secret"/> and its time lies within
    /// <paramref name="tolerance"/> of <paramref name="now"/>. Several <c>v1=</c> entries are accepted
    /// (any one matching will do, as when a secret is being rotated); unknown entries are ignored.
    /// </summary>
    public static bool Verify(string secret, string? header, ReadOnlySpan<byte> body, DateTimeOffset now, TimeSpan tolerance)
    {
        ArgumentNullException.ThrowIfNull(secret);
        ArgumentOutOfRangeException.ThrowIfLessThan(tolerance, TimeSpan.Zero);
        if (string.IsNullOrEmpty(header))
        {
            return false;
        }

        string? timestamp = null;
        List<string> signatures = [];
        foreach (var part in header.Split(','))
        {
            var pair = part.Trim();
            if (pair.StartsWith("t=", StringComparison.Ordinal))
            {
                timestamp = pair[2..];
            }
            else if (pair.StartsWith("v1=", StringComparison.Ordinal))
            {
                signatures.Add(pair[3..]);
            }
        }

        if (timestamp is null
            || !long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            || seconds > DateTimeOffset.MaxValue.ToUnixTimeSeconds()
            || (now - DateTimeOffset.FromUnixTimeSeconds(seconds)).Duration() > tolerance)
        {
            return false;
        }

        var expected = Compute(secret, timestamp, body);
        var match = false;
        foreach (var signature in signatures)
        {
            byte[] given;
            try
            {
                given = Convert.FromHexString(signature);
            }
            catch (FormatException)
            {
                continue;
            }

            // Constant time, and no early exit: the time taken says nothing about which entry matched.
            match |= CryptographicOperations.FixedTimeEquals(given, expected);
        }

        return match;
    }

    /// <summary><see cref="Verify(string, string?, ReadOnlySpan{byte}, DateTimeOffset, TimeSpan)"/> over a body received as text (UTF-8).</summary>
    public static bool Verify(string secret, string? header, string body, DateTimeOffset now, TimeSpan tolerance)
    {
        ArgumentNullException.ThrowIfNull(body);
        return Verify(secret, header, Encoding.UTF8.GetBytes(body), now, tolerance);
    }

    private static byte[] Compute(string secret, string timestamp, ReadOnlySpan<byte> body)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(secret));
        hmac.AppendData(Encoding.ASCII.GetBytes(timestamp));
        hmac.AppendData("."u8);
        hmac.AppendData(body);
        return hmac.GetHashAndReset();
    }
}
