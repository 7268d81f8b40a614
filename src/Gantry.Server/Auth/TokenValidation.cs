using System.Text.RegularExpressions;
using Gantry.Core.Protocol;

namespace Gantry.Server.Auth;

/// <summary>Checks a token request field by field, as <c>Api/Validation</c> checks a job.</summary>
internal static partial class TokenValidation
{
    /// <summary>The longest expiry a token may have (ten years).</summary>
    public static readonly TimeSpan MaxExpiry = TimeSpan.FromDays(3650);

    /// <summary>Null when the request is valid; otherwise each wrong field with why.</summary>
    public static Dictionary<string, string[]>? Check(CreateTokenRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var errors = new Dictionary<string, string[]>();
        if (!NamePattern().IsMatch(request.Name))
        {
            errors["name"] = ["must be 1-64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit"];
        }
        else if (request.Name == "me")
        {
            errors["name"] = ["'me' is reserved (owner=me lists the caller's own jobs)"];
        }

        if (!Enum.IsDefined(request.Role))
        {
            errors["role"] = [$"must be one of {Roles.Names}"];
        }

        if (request.UnixUser is { } user)
        {
            if (!UnixUserPattern().IsMatch(user))
            {
                errors["unixUser"] = ["must be a Unix user name: 1-32 of a-z, 0-9, '_' and '-', starting with a letter or '_'"];
            }
            else if (user == "root" && !request.AllowRoot)
            {
                errors["unixUser"] = ["root needs allowRoot (--allow-root)"];
            }
        }

        if (request.ExpiresInSeconds is { } seconds && (!double.IsFinite(seconds) || seconds < 1 || seconds > MaxExpiry.TotalSeconds))
        {
            errors["expiresInSeconds"] = ["must be from 1 second to 10 years"];
        }

        if (request.MaxGpus is < 0)
        {
            errors["maxGpus"] = ["must be 0 or more"];
        }

        if (request.MaxPending is < 0)
        {
            errors["maxPending"] = ["must be 0 or more"];
        }

        return errors.Count == 0 ? null : errors;
    }

    /// <summary>Whether <paramref name="name"/> could name a token (for the revoke path).</summary>
    public static bool IsName(string name) => NamePattern().IsMatch(name);

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,63}$", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();

    [GeneratedRegex("^[a-z_][a-z0-9_-]{0,31}$", RegexOptions.CultureInvariant)]
    private static partial Regex UnixUserPattern();
}
