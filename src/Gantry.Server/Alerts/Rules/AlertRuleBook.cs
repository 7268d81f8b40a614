using Gantry.Server.Configuration;
using Gantry.Server.Storage;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Alerts.Rules;

/// <summary>
/// Every rule group the server evaluates: the built-in ones (<see cref="BuiltInRules"/>, minus those
/// switched off), the rules file's (<c>--rules</c>, reloaded when it changes; a version that does not
/// parse keeps the last good one and says where it is wrong) and those added through the API (kept in
/// the store as alert documents of kind <c>group</c>, one per group).
/// </summary>
internal sealed partial class AlertRuleBook
{
    /// <summary>The document kind in the store.</summary>
    public const string Kind = "group";

    /// <summary>The most groups that can be added through the API.</summary>
    public const int MaxApiGroups = 1000;

    private readonly Lock _lock = new();
    private readonly IStateStore _store;
    private readonly ServerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<AlertRuleBook> _logger;
    private readonly RuleGroup _builtIn;
    private readonly HashSet<string> _disabled;
    private readonly bool _allDisabled;
    private readonly SortedDictionary<string, RuleGroup> _api = new(StringComparer.Ordinal);
    private IReadOnlyList<RuleGroup> _file = [];
    private (DateTime Modified, long Length)? _fileVersion;
    private string? _fileError;

    public AlertRuleBook(IStateStore store, StoredState state, ServerOptions options, TimeProvider time, ILogger<AlertRuleBook> logger)
    {
        _store = store;
        _options = options;
        _time = time;
        _logger = logger;
        _builtIn = RuleFile.Parse(BuiltInRules.Yaml, RuleOrigin.BuiltIn)[0];
        _allDisabled = options.DisabledRules.Any(r => string.Equals(r, "all", StringComparison.OrdinalIgnoreCase));
        _disabled = new HashSet<string>(options.DisabledRules, StringComparer.Ordinal);
        foreach (var document in state.AlertDocuments)
        {
            if (document.Kind != Kind)
            {
                continue;
            }

            try
            {
                foreach (var group in RuleFile.Parse(document.Body, RuleOrigin.Api))
                {
                    _api[group.Name] = group;
                }
            }
            catch (AlertRuleException ex)
            {
                // Stored by an earlier version that accepted it: keep serving the rest.
                Log.StoredGroupRefused(_logger, document.Id, ex.Message);
            }
        }

        ReloadFile();
    }

    /// <summary>Names of built-in rules that <c>--disable-rule</c> named but that do not exist (the server warns at start).</summary>
    public IReadOnlyList<string> UnknownDisabled =>
        [.. _disabled.Where(name => !string.Equals(name, "all", StringComparison.OrdinalIgnoreCase) && _builtIn.Rules.All(r => r.Name != name))];

    /// <summary>The rules file's path, when one is set.</summary>
    public string? FilePath => _options.RulesFile;

    /// <summary>Why the rules file could not be loaded last time, with its position; null when it loaded.</summary>
    public string? FileError
    {
        get
        {
            lock (_lock)
            {
                return _fileError;
            }
        }
    }

    /// <summary>Every group: built-in, the file's, the API's (in name order).</summary>
    public IReadOnlyList<RuleGroup> Groups
    {
        get
        {
            lock (_lock)
            {
                return [_builtIn, .. _file, .. _api.Values];
            }
        }
    }

    /// <summary>False for a built-in rule switched off: listed, never evaluated.</summary>
    public bool IsEnabled(RuleGroup group, AlertRule rule) =>
        group.Origin != RuleOrigin.BuiltIn || !(_allDisabled || _disabled.Contains(rule.Name));

    /// <summary>Reads the rules file again when its time or size changed since the last read. True when the rules changed.</summary>
    public bool ReloadFile()
    {
        if (_options.RulesFile is not { } path)
        {
            return false;
        }

        (DateTime, long)? version;
        try
        {
            var info = new FileInfo(path);
            version = info.Exists ? (info.LastWriteTimeUtc, info.Length) : null;
        }
        catch (IOException)
        {
            version = null;
        }

        lock (_lock)
        {
            if (version == _fileVersion && (version is not null || _fileError is not null))
            {
                return false;
            }

            _fileVersion = version;
        }

        string? error;
        IReadOnlyList<RuleGroup>? groups = null;
        try
        {
            var text = File.ReadAllText(path);
            groups = RuleFile.Parse(text, RuleOrigin.File);
            error = Clash(groups, RuleOrigin.File);
        }
        catch (AlertRuleException ex)
        {
            error = ex.Message;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            error = $"cannot read it: {ex.Message}";
        }

        lock (_lock)
        {
            _fileError = error;
            if (error is null)
            {
                _file = groups!;
            }
        }

        if (error is null)
        {
            var ruleCount = groups!.Sum(g => g.Rules.Count);
            Log.FileLoaded(_logger, path, groups!.Count, ruleCount);
            return true;
        }

        Log.FileRefused(_logger, path, error);
        return false;
    }

    /// <summary>
    /// Adds the groups of <paramref name="yaml"/> (a Prometheus rule file), replacing API groups of the same
    /// names. Throws <see cref="AlertRuleException"/> (with the position) for a document that does not parse
    /// and for a group name the built-in rules or the rules file use.
    /// </summary>
    public IReadOnlyList<string> Add(string yaml)
    {
        var groups = RuleFile.Parse(yaml, RuleOrigin.Api);
        if (Clash(groups, RuleOrigin.Api) is { } clash)
        {
            throw new AlertRuleException(clash, null, null);
        }

        lock (_lock)
        {
            var added = groups.Count(g => !_api.ContainsKey(g.Name));
            if (_api.Count + added > MaxApiGroups)
            {
                throw new AlertRuleException($"at most {MaxApiGroups} groups can be added through the API; there are {_api.Count}", null, null);
            }
        }

        var now = _time.GetUtcNow();
        _store.Write(w =>
        {
            foreach (var group in groups)
            {
                w.PutAlertDocument(Kind, group.Name, RuleFile.Write([group], TimeSpan.Zero), now);
            }
        });
        lock (_lock)
        {
            foreach (var group in groups)
            {
                _api[group.Name] = group;
            }
        }

        return [.. groups.Select(g => g.Name)];
    }

    /// <summary>Removes an API group; false when there is none of that name.</summary>
    public bool Remove(string name)
    {
        lock (_lock)
        {
            if (!_api.ContainsKey(name))
            {
                return false;
            }
        }

        _store.Write(w => w.DeleteAlertDocument(Kind, name));
        lock (_lock)
        {
            return _api.Remove(name);
        }
    }

    /// <summary>Where <paramref name="name"/> is defined other than through the API: "built-in", "file" or null.</summary>
    public string? OriginOf(string name)
    {
        lock (_lock)
        {
            return name == _builtIn.Name ? "built-in" : _file.Any(g => g.Name == name) ? "file" : _api.ContainsKey(name) ? "api" : null;
        }
    }

    private string? Clash(IReadOnlyList<RuleGroup> groups, RuleOrigin origin)
    {
        lock (_lock)
        {
            foreach (var group in groups)
            {
                if (group.Name == _builtIn.Name)
                {
                    return $"group \"{group.Name}\" is the built-in rules' group; choose another name";
                }

                if (origin == RuleOrigin.Api && _file.Any(g => g.Name == group.Name))
                {
                    return $"group \"{group.Name}\" is defined in the rules file ({_options.RulesFile}); choose another name";
                }

                if (origin == RuleOrigin.File && _api.ContainsKey(group.Name))
                {
                    return $"group \"{group.Name}\" was added through the API; remove it there (gantry alerts rules rm) or rename it in the file";
                }
            }
        }

        return null;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2500, Level = LogLevel.Information, Message = "Alert rules file {Path} loaded: {Groups} groups, {Rules} rules")]
        public static partial void FileLoaded(ILogger logger, string path, int groups, int rules);

        [LoggerMessage(EventId = 2501, Level = LogLevel.Warning, Message = "Alert rules file {Path} not (re)loaded, the last good rules stay in use: {Error}")]
        public static partial void FileRefused(ILogger logger, string path, string error);

        [LoggerMessage(EventId = 2502, Level = LogLevel.Warning, Message = "Stored alert rule group {Group} is not evaluated: {Error}")]
        public static partial void StoredGroupRefused(ILogger logger, string group, string error);
    }
}
