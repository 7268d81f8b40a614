namespace Gantry.Core.Protocol;

/// <summary>
/// How a standby replica points a client at the leader. It answers every <c>/api/v1/…</c> request with
/// <c>307 Temporary Redirect</c>, <c>Location: &lt;leader base URL&gt;&lt;same path and query&gt;</c> and
/// <c>Gantry-Leader: &lt;leader base URL&gt;</c> (e.g. <c>http://10.0.0.2:7070</c>); without a leader it
/// answers <c>503</c> with <c>Retry-After: 1</c>. Clients (the agent, the CLI) re-send the same method
/// and body to the leader and keep talking to it.
/// </summary>
public static class LeaderRedirect
{
    /// <summary>The header that names the leader's base URL.</summary>
    public const string HeaderName = "Gantry-Leader";

    /// <summary>
    /// The leader's base URL, ending with a slash: the <c>Gantry-Leader</c> header when it holds an
    /// absolute http(s) URL, else <paramref name="location"/> less the request's own path and query
    /// (resolved against the request when relative), else the root of the location's authority.
    /// Null when neither names an http(s) URL.
    /// </summary>
    /// <param name="leaderHeader">The <c>Gantry-Leader</c> header's value, if any.</param>
    /// <param name="location">The <c>Location</c> header, if any.</param>
    /// <param name="requestBase">The base URL the request was sent under (ending with a slash).</param>
    /// <param name="requestUri">The request's absolute URL (<paramref name="requestBase"/> + a relative path).</param>
    public static Uri? LeaderBase(string? leaderHeader, Uri? location, Uri requestBase, Uri requestUri)
    {
        ArgumentNullException.ThrowIfNull(requestBase);
        ArgumentNullException.ThrowIfNull(requestUri);
        if (Uri.TryCreate(leaderHeader?.Trim(), UriKind.Absolute, out var named) && IsHttp(named))
        {
            return WithSlash(named);
        }

        if (location is null)
        {
            return null;
        }

        var target = location.IsAbsoluteUri ? location : new Uri(requestUri, location);
        if (!IsHttp(target))
        {
            return null;
        }

        // http://10.0.0.2:7070/gantry/api/v1/jobs?x=1 less api/v1/jobs?x=1 (what the request added to its base).
        var text = target.AbsoluteUri;
        var own = requestUri.AbsoluteUri.StartsWith(requestBase.AbsoluteUri, StringComparison.Ordinal)
            ? requestUri.AbsoluteUri[requestBase.AbsoluteUri.Length..]
            : null;
        return own is { Length: > 0 } && text.EndsWith(own, StringComparison.Ordinal)
            ? WithSlash(new Uri(text[..^own.Length]))
            : new Uri(target.GetLeftPart(UriPartial.Authority) + "/");
    }

    /// <summary>Whether following a redirect from <paramref name="from"/> to <paramref name="to"/> would send a credential from https to plain http.</summary>
    public static bool IsDowngrade(Uri from, Uri to)
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(to);
        return from.Scheme == Uri.UriSchemeHttps && to.Scheme == Uri.UriSchemeHttp;
    }

    private static bool IsHttp(Uri uri) => uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps;

    private static Uri WithSlash(Uri uri) => uri.AbsoluteUri.EndsWith('/') ? uri : new Uri(uri.AbsoluteUri + "/");
}
