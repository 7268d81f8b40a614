using Gantry.Core.Protocol;
using Gantry.Core.Text;

namespace Gantry.Server.Dashboard.Views;

/// <summary>The Tokens page's create form as typed, with the last try's error.</summary>
public sealed record TokenForm
{
    public string Name { get; init; } = "";

    public string Role { get; init; } = "user";

    public string UnixUser { get; init; } = "";

    public bool AllowRoot { get; init; }

    /// <summary>A duration (90d, 12h); empty for never.</summary>
    public string Expires { get; init; } = "";

    public string MaxGpus { get; init; } = "";

    public string MaxPending { get; init; } = "";

    /// <summary>What was wrong with the last try; null when nothing was.</summary>
    public string? Error { get; init; }

    /// <summary>The field the error is about (name, role, unixUser, expires, maxGpus, maxPending).</summary>
    public string? ErrorField { get; init; }

    /// <summary>The request the form asks for, or the form with its error.</summary>
    public (CreateTokenRequest? Request, TokenForm? Refused) Parse()
    {
        if (!Roles.TryParse(Role, out var role))
        {
            return (null, this with { Error = $"role must be one of {Roles.Names}.", ErrorField = "role" });
        }

        double? expiresIn = null;
        if (Expires.Trim().Length > 0)
        {
            if (!Durations.TryParse(Expires, out var expires) || expires <= TimeSpan.Zero)
            {
                return (null, this with { Error = "Expires must be a duration such as 90d or 12h (empty for never).", ErrorField = "expires" });
            }

            expiresIn = expires.TotalSeconds;
        }

        if (!TryCount(MaxGpus, out var maxGpus))
        {
            return (null, this with { Error = "Max GPUs must be a whole number (empty for no limit).", ErrorField = "maxGpus" });
        }

        if (!TryCount(MaxPending, out var maxPending))
        {
            return (null, this with { Error = "Max pending must be a whole number (empty for no limit).", ErrorField = "maxPending" });
        }

        return (new CreateTokenRequest
        {
            Name = Name.Trim(),
            Role = role,
            UnixUser = UnixUser.Trim().Length == 0 ? null : UnixUser.Trim(),
            AllowRoot = AllowRoot,
            ExpiresInSeconds = expiresIn,
            MaxGpus = maxGpus,
            MaxPending = maxPending,
        }, null);
    }

    private static bool TryCount(string text, out int? value)
    {
        value = null;
        if (text.Trim().Length == 0)
        {
            return true;
        }

        if (int.TryParse(text.Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var parsed))
        {
            value = parsed;
            return true;
        }

        return false;
    }
}
