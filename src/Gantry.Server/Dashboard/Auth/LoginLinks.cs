using System.Collections.Concurrent;
using Gantry.Server.Auth;

namespace Gantry.Server.Dashboard.Auth;

/// <summary>
/// One-time login links (<c>/login?once=CODE</c>) such as the one <c>gantry dev</c> prints: each code
/// logs a browser in once, then is gone. Codes live in memory only (a restart forgets them) and are
/// kept as SHA-256 hashes, like every other token.
/// </summary>
internal sealed class LoginLinks
{
    /// <summary>How long an unused link stays valid.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(24);

    private readonly ConcurrentDictionary<string, DateTimeOffset> _codes = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;

    public LoginLinks(TimeProvider time) => _time = time;

    /// <summary>A new code, valid once within <see cref="Lifetime"/>.</summary>
    public string Create()
    {
        var code = Tokens.New("glogin_");
        _codes[Key(code)] = _time.GetUtcNow() + Lifetime;
        return code;
    }

    /// <summary>True exactly once for a code from <see cref="Create"/> that has not expired.</summary>
    public bool Redeem(string? code)
    {
        if (string.IsNullOrEmpty(code) || code.Length > 200 || !_codes.TryRemove(Key(code), out var expires))
        {
            return false;
        }

        return _time.GetUtcNow() < expires;
    }

    private static string Key(string code) => Convert.ToHexString(Tokens.Hash(code));
}
