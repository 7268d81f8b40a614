using System.Security.Cryptography;
using System.Text.Json;
using Gantry.Core.Protocol;
using Gantry.Server.Alerts.Rules;
using Gantry.Server.Storage;

namespace Gantry.Server.Alerts.Silences;

/// <summary>
/// Silences: label matchers with a start, an end, an author and a comment. An alert every matcher of an
/// active silence matches is still evaluated and listed (with the silence's id) but not delivered.
/// Kept in the store (alert documents of kind <c>silence</c>); expired ones are forgotten after a day.
/// </summary>
internal sealed class SilenceBook
{
    /// <summary>The document kind in the store.</summary>
    public const string Kind = "silence";

    /// <summary>How long an expired silence stays listed.</summary>
    public static readonly TimeSpan ExpiredShownFor = TimeSpan.FromDays(1);

    private const int MaxMatchers = 32;
    private const int MaxText = 1024;
    private const int MaxSilences = 10_000;

    private readonly Lock _lock = new();
    private readonly IStateStore _store;
    private readonly TimeProvider _time;
    private readonly Dictionary<string, (SilenceInfo Info, LabelMatcher[] Matchers)> _silences = new(StringComparer.Ordinal);

    public SilenceBook(IStateStore store, StoredState state, TimeProvider time)
    {
        _store = store;
        _time = time;
        foreach (var document in state.AlertDocuments)
        {
            if (document.Kind != Kind)
            {
                continue;
            }

            var info = JsonSerializer.Deserialize(document.Body, GantryJson.Default.SilenceInfo)!;
            var matchers = new LabelMatcher[info.Matchers.Count];
            for (var i = 0; i < matchers.Length; i++)
            {
                matchers[i] = ParseMatcher(info.Matchers[i], out _)!;
            }

            _silences[info.Id] = (info, matchers);
        }
    }

    /// <summary>Silences that are pending or active, and those expired within a day, newest first.</summary>
    public SilencesResponse List()
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            return new SilencesResponse
            {
                Silences = [.. _silences.Values.Where(s => now - s.Info.EndsAt < ExpiredShownFor).OrderByDescending(s => s.Info.StartsAt).Select(s => WithStatus(s.Info, now))],
            };
        }
    }

    /// <summary>One silence by id; null when unknown.</summary>
    public SilenceInfo? Get(string id)
    {
        lock (_lock)
        {
            return _silences.TryGetValue(id, out var s) ? WithStatus(s.Info, _time.GetUtcNow()) : null;
        }
    }

    /// <summary>The ids of the silences active at <paramref name="now"/> that match <paramref name="labels"/>; empty when none.</summary>
    public IReadOnlyList<string> SilencedBy(LabelSet labels, DateTimeOffset now)
    {
        List<string>? ids = null;
        lock (_lock)
        {
            foreach (var (id, (info, matchers)) in _silences)
            {
                if (info.StartsAt <= now && now < info.EndsAt && matchers.All(m => m.Matches(labels.Get(m.Name))))
                {
                    (ids ??= []).Add(id);
                }
            }
        }

        return ids ?? (IReadOnlyList<string>)[];
    }

    /// <summary>Makes a silence from <paramref name="request"/>; null with the problems by field when it is refused (nothing is stored then).</summary>
    public SilenceInfo? Create(CreateSilenceRequest request, out Dictionary<string, string[]>? errors)
    {
        var now = _time.GetUtcNow();
        var problems = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        void Problem(string field, string message)
        {
            if (!problems.TryGetValue(field, out var list))
            {
                problems[field] = list = [];
            }

            list.Add(message);
        }

        var matchers = new List<LabelMatcher>();
        if (request.Matchers.Count == 0)
        {
            Problem("matchers", "at least one matcher is needed, e.g. alertname=GantryGpuHot");
        }
        else if (request.Matchers.Count > MaxMatchers)
        {
            Problem("matchers", $"at most {MaxMatchers} matchers, got {request.Matchers.Count}");
        }
        else
        {
            foreach (var text in request.Matchers)
            {
                if (ParseMatcher(text, out var problem) is { } matcher)
                {
                    matchers.Add(matcher);
                }
                else
                {
                    Problem("matchers", problem!);
                }
            }

            if (matchers.Count == request.Matchers.Count && matchers.All(m => m.Matches("")))
            {
                Problem("matchers", "at least one matcher must not match an empty label (a silence of everything is refused)");
            }
        }

        var startsAt = request.StartsAt ?? now;
        if (request.EndsAt <= startsAt)
        {
            Problem("endsAt", $"must be after startsAt ({startsAt:O})");
        }
        else if (request.EndsAt <= now)
        {
            Problem("endsAt", "must be in the future");
        }

        CheckText(request.Author, "author", Problem);
        CheckText(request.Comment, "comment", Problem);
        lock (_lock)
        {
            if (_silences.Count >= MaxSilences)
            {
                Problem("matchers", $"there are {MaxSilences} silences already; expire some first");
            }
        }

        if (problems.Count > 0)
        {
            errors = problems.ToDictionary(p => p.Key, p => p.Value.ToArray(), StringComparer.Ordinal);
            return null;
        }

        var info = new SilenceInfo
        {
            Id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)),
            Matchers = [.. matchers.Select(m => m.ToString())],
            StartsAt = startsAt,
            EndsAt = request.EndsAt,
            Author = request.Author.Trim(),
            Comment = request.Comment.Trim(),
            Status = "",
        };
        Save(info, now);
        lock (_lock)
        {
            _silences[info.Id] = (info, [.. matchers]);
        }

        errors = null;
        return WithStatus(info, now);
    }

    /// <summary>Ends a silence now (kept, listed as expired); null when unknown. An expired one stays as it is.</summary>
    public SilenceInfo? Expire(string id)
    {
        var now = _time.GetUtcNow();
        (SilenceInfo Info, LabelMatcher[] Matchers) silence;
        lock (_lock)
        {
            if (!_silences.TryGetValue(id, out silence))
            {
                return null;
            }
        }

        if (silence.Info.EndsAt <= now)
        {
            return WithStatus(silence.Info, now);
        }

        var expired = silence.Info with { EndsAt = now, StartsAt = silence.Info.StartsAt > now ? now : silence.Info.StartsAt };
        Save(expired, now);
        lock (_lock)
        {
            _silences[id] = (expired, silence.Matchers);
        }

        return WithStatus(expired, now);
    }

    /// <summary>Forgets silences that expired more than a day ago (from memory and the store).</summary>
    public void Purge()
    {
        var now = _time.GetUtcNow();
        List<string> old;
        lock (_lock)
        {
            old = [.. _silences.Where(s => now - s.Value.Info.EndsAt >= ExpiredShownFor).Select(s => s.Key)];
        }

        if (old.Count == 0)
        {
            return;
        }

        _store.Write(w =>
        {
            foreach (var id in old)
            {
                w.DeleteAlertDocument(Kind, id);
            }
        });
        lock (_lock)
        {
            foreach (var id in old)
            {
                _silences.Remove(id);
            }
        }
    }

    /// <summary>
    /// One matcher as people write it: <c>name=value</c>, <c>name!=value</c>, <c>name=~regex</c> or
    /// <c>name!~regex</c>, the value optionally in double quotes. Null with <paramref name="problem"/> when it is not one.
    /// </summary>
    public static LabelMatcher? ParseMatcher(string text, out string? problem)
    {
        problem = null;
        var trimmed = text.Trim();
        var at = trimmed.IndexOfAny(['=', '!']);
        if (at <= 0)
        {
            problem = $"'{text}' is not a matcher: write name=value, name!=value, name=~regex or name!~regex";
            return null;
        }

        var name = trimmed[..at].Trim();
        var rest = trimmed[at..];
        (MatchOp Op, int Length)? parsed =
            rest.StartsWith("=~", StringComparison.Ordinal) ? (MatchOp.Regex, 2)
            : rest.StartsWith("!~", StringComparison.Ordinal) ? (MatchOp.NotRegex, 2)
            : rest.StartsWith("!=", StringComparison.Ordinal) ? (MatchOp.NotEqual, 2)
            : rest.StartsWith('=') ? (MatchOp.Equal, 1)
            : null;
        if (parsed is null || !IsLabelName(name))
        {
            problem = $"'{text}' is not a matcher: write name=value, name!=value, name=~regex or name!~regex with a label name of letters, digits and underscores";
            return null;
        }

        var (op, length) = parsed.Value;

        var value = rest[length..].Trim();
        if (value.Length >= 2 && value[0] == '"' && value[^1] == '"')
        {
            value = value[1..^1].Replace("\\\"", "\"", StringComparison.Ordinal).Replace("\\\\", "\\", StringComparison.Ordinal);
        }

        if (trimmed.Length > MaxText)
        {
            problem = $"a matcher is at most {MaxText} characters";
            return null;
        }

        try
        {
            return new LabelMatcher(name, op, value);
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException)
        {
            problem = $"'{text}': the regular expression does not parse: {ex.Message}";
            return null;
        }
    }

    private static bool IsLabelName(string name) =>
        name.Length > 0 && (char.IsAsciiLetter(name[0]) || name[0] == '_') && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    private static void CheckText(string text, string field, Action<string, string> problem)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            problem(field, "must not be empty");
        }
        else if (text.Length > MaxText)
        {
            problem(field, $"must be at most {MaxText} characters");
        }
        else if (text.Contains('\0', StringComparison.Ordinal))
        {
            problem(field, "must not contain NUL characters");
        }
    }

    private void Save(SilenceInfo info, DateTimeOffset now)
    {
        var body = JsonSerializer.Serialize(info with { Status = "" }, GantryJson.Default.SilenceInfo);
        _store.Write(w => w.PutAlertDocument(Kind, info.Id, body, now));
    }

    private static SilenceInfo WithStatus(SilenceInfo info, DateTimeOffset now) =>
        info with { Status = now < info.StartsAt ? "pending" : now < info.EndsAt ? "active" : "expired" };
}
