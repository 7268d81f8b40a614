using System.CommandLine;
using System.Globalization;
using Gantry.Core.Protocol;
using Gantry.Core.Text;

namespace Gantry.Cli.Alerts;

/// <summary>The flags of <c>gantry alerts silence add</c> and how they become a <see cref="CreateSilenceRequest"/>.</summary>
internal sealed class SilenceFlags
{
    /// <summary>The times <c>--start</c> and <c>--until</c> take: ISO 8601 dates and times, UTC unless an offset is given.</summary>
    private static readonly string[] TimeFormats =
    [
        "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK",
        "yyyy-MM-dd'T'HH:mm:ssK",
        "yyyy-MM-dd'T'HH:mmK",
        "yyyy-MM-dd HH:mm:ss.FFFFFFFK",
        "yyyy-MM-dd HH:mm:ssK",
        "yyyy-MM-dd HH:mmK",
        "yyyy-MM-dd",
    ];

    public Option<string> Duration { get; } = new("--duration", "-d")
    {
        Description = "How long the silence lasts, from its start: 30m, 2h, 1d12h. One of --duration and --until is needed.",
        HelpName = "DURATION",
    };

    public Option<string> Until { get; } = new("--until")
    {
        Description = "When the silence ends: 2026-03-02T08:00Z, 2026-03-02 08:00 (UTC unless an offset such as +02:00 is given).",
        HelpName = "TIME",
    };

    public Option<string> Start { get; } = new("--start")
    {
        Description = "When the silence starts, in --until's format; a later start makes it pending until then. (default: now)",
        HelpName = "TIME",
    };

    public Option<string> Comment { get; } = new("--comment", "-c")
    {
        Description = "Why the alerts are silenced (a ticket, the work going on); shown with the silence.",
        HelpName = "TEXT",
        Required = true,
    };

    public Option<string> Author { get; } = new("--author")
    {
        Description = "Who silences them. (default: $USER)",
        HelpName = "NAME",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(Duration);
        command.Options.Add(Until);
        command.Options.Add(Start);
        command.Options.Add(Comment);
        command.Options.Add(Author);
    }

    /// <summary>The request the flags and matchers describe.</summary>
    /// <exception cref="UsageException">A matcher, time, duration or text that cannot be right.</exception>
    public CreateSilenceRequest Build(ParseResult parseResult, IReadOnlyList<string> matchers, DateTimeOffset now, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(parseResult);
        var start = ParseTime(parseResult.GetValue(Start), "--start");
        var duration = parseResult.GetValue(Duration);
        var until = parseResult.GetValue(Until);
        DateTimeOffset endsAt;
        if (duration is not null && until is not null)
        {
            throw new UsageException("--duration", "give --duration or --until, not both");
        }

        if (duration is not null)
        {
            if (!Durations.TryParse(duration, out var length) || length <= TimeSpan.Zero)
            {
                throw new UsageException("--duration", $"expected a duration such as 30m, 2h or 1d, got '{duration}'");
            }

            endsAt = (start ?? now) + length;
        }
        else if (until is not null)
        {
            endsAt = ParseTime(until, "--until")!.Value;
            if (endsAt <= (start ?? now))
            {
                throw new UsageException("--until", start is null
                    ? $"{Show(endsAt)} is not in the future (now is {Show(now)})"
                    : $"{Show(endsAt)} is not after --start {Show(start.Value)}");
            }
        }
        else
        {
            throw new UsageException("--duration", "say how long the silence lasts: --duration 2h, or --until 2026-03-02T08:00Z");
        }

        return new CreateSilenceRequest
        {
            Matchers = ParseMatchers(matchers),
            StartsAt = start,
            EndsAt = endsAt,
            Author = Text(parseResult.GetValue(Author) ?? DefaultAuthor(environment), "--author"),
            Comment = Text(parseResult.GetValue(Comment), "--comment"),
        };
    }

    /// <summary>
    /// Matchers as amtool takes them: <c>name=value</c>, <c>name!=value</c>, <c>name=~regex</c>,
    /// <c>name!~regex</c> (the value may be in double quotes, which the server removes); a first one
    /// without an operator is the alert's name (<c>alertname=…</c>). Regular expressions are checked by the server.
    /// </summary>
    internal static List<string> ParseMatchers(IReadOnlyList<string> matchers)
    {
        var parsed = new List<string>(matchers.Count);
        for (var i = 0; i < matchers.Count; i++)
        {
            var text = matchers[i].Trim();
            var at = text.IndexOfAny(['=', '!', '~']);
            if (at < 0 && i == 0 && IsLabelValue(text))
            {
                parsed.Add("alertname=" + text);
                continue;
            }

            var rest = at <= 0 ? "" : text[at..];
            if (at <= 0 || !IsLabelName(text.AsSpan(0, at)) || !(rest.StartsWith('=') || rest.StartsWith("!=", StringComparison.Ordinal) || rest.StartsWith("!~", StringComparison.Ordinal)))
            {
                throw new UsageException("MATCHER", $"'{matchers[i]}' is not a matcher: write name=value, name!=value, name=~regex or name!~regex, the name of letters, digits and underscores");
            }

            parsed.Add(text);
        }

        return parsed;
    }

    /// <summary>A time for <c>--start</c> or <c>--until</c>; null when not given.</summary>
    internal static DateTimeOffset? ParseTime(string? text, string flag)
    {
        if (text is null)
        {
            return null;
        }

        return DateTimeOffset.TryParseExact(text.Trim(), TimeFormats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time)
            ? time
            : throw new UsageException(flag, $"expected a time such as 2026-03-02T08:00Z or '2026-03-02 08:00' (UTC unless an offset is given), got '{text}'");
    }

    /// <summary>$USER (or $LOGNAME, or Windows' %USERNAME%).</summary>
    private static string DefaultAuthor(Func<string, string?> environment)
    {
        foreach (var name in (ReadOnlySpan<string>)["USER", "LOGNAME", "USERNAME"])
        {
            if (environment(name) is { Length: > 0 } user)
            {
                return user;
            }
        }

        throw new UsageException("--author", "$USER is not set: say who silences the alerts with --author NAME");
    }

    private static string Text(string? text, string flag)
    {
        var trimmed = text?.Trim() ?? "";
        return trimmed.Length is 0 or > 1024
            ? throw new UsageException(flag, "must be 1 to 1024 characters")
            : trimmed;
    }

    private static bool IsLabelName(ReadOnlySpan<char> name)
    {
        if (name.IsEmpty || !(char.IsAsciiLetter(name[0]) || name[0] == '_'))
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c == '_'))
            {
                return false;
            }
        }

        return true;
    }

    // An alert's name as a bare first matcher: no spaces or quotes, so a typo is not taken for a name.
    private static bool IsLabelValue(string text) => text.Length > 0 && !text.Any(static c => char.IsWhiteSpace(c) || c is '"' or '\'' or '{' or '}' or ',');

    private static string Show(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
