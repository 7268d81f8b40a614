using System.ComponentModel.DataAnnotations;
using System.Net;
using Gantry.Core.Jobs;
using Gantry.Core.Text;

namespace Gantry.Server.Configuration;

/// <summary>
/// Everything <c>gantry server</c> can be told, with its defaults. <see cref="ServerSettings"/> fills it
/// from flags, <c>GANTRY_*</c> variables and the config file, and <see cref="ServerOptionsValidator"/>
/// checks it before the server starts.
/// </summary>
public sealed class ServerOptions : IValidatableObject
{
    /// <summary>Address and port of the API, /metrics and the health endpoints.</summary>
    public IPEndPoint Listen { get; set; } = new(IPAddress.Loopback, 7070);

    /// <summary>The PEM certificate (and chain) HTTPS is served with (<c>--tls-cert</c>); null for none.</summary>
    public string? TlsCert { get; set; }

    /// <summary>The PEM private key of <see cref="TlsCert"/> (<c>--tls-key</c>).</summary>
    public string? TlsKey { get; set; }

    /// <summary><c>--tls auto</c>: HTTPS with a CA and certificate of the server's own in <c>&lt;data-dir&gt;/tls</c>.</summary>
    public bool TlsAuto { get; set; }

    /// <summary>Plain HTTP is allowed on an address other than loopback (<c>--insecure-http</c>).</summary>
    public bool InsecureHttp { get; set; }

    /// <summary>True when the server serves HTTPS.</summary>
    public bool UsesTls => TlsAuto || (TlsCert is not null && TlsKey is not null);

    /// <summary><c>https</c> when the server serves HTTPS, else <c>http</c>.</summary>
    public string Scheme => UsesTls ? "https" : "http";

    /// <summary>Where the SQLite database and the generated tokens live.</summary>
    public string DataDir { get; set; } = DefaultDataDir();

    /// <summary>
    /// Where the state lives: null for SQLite in <see cref="DataDir"/> (<c>gantry.db</c>), or a
    /// PostgreSQL URL (<c>postgres://user@host/db</c>) shared by every replica.
    /// </summary>
    public string? Store { get; set; }

    /// <summary>
    /// How long the leader lease lasts among replicas sharing a PostgreSQL store: a new leader takes over
    /// at most this long after the old one died; a leader that cannot renew it for two thirds of it steps down.
    /// </summary>
    public TimeSpan LeaderLease { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>This replica's URL as clients and other replicas reach it (redirects name it); default: the listen address.</summary>
    public string? AdvertiseUrl { get; set; }

    /// <summary>True when <see cref="Store"/> names a PostgreSQL database.</summary>
    public bool UsesPostgres => Store is { } store && (store.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) || store.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase));

    /// <summary>The join token agents present; null to generate one at first start into <c>join.token</c>.</summary>
    public string? JoinToken { get; set; }

    /// <summary>How often agents heartbeat.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A node silent longer than this is suspect (it missed a lease).</summary>
    public TimeSpan Lease => HeartbeatInterval * 2;

    /// <summary>A node silent longer than this is down and its live attempts are lost.</summary>
    public TimeSpan DownAfter { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>Time between SIGTERM and SIGKILL when a job is stopped.</summary>
    public TimeSpan KillGrace { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a job may be overtaken by backfill before it gets a reservation.</summary>
    public TimeSpan ReservationAfter { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// How many pending jobs, in priority order, a scheduling pass looks at first; as many again come
    /// from a window that moves through the rest of the queue pass by pass.
    /// </summary>
    public int SchedulerDepth { get; set; } = 500;

    /// <summary>
    /// Fair share (docs/fair-share.md): how fast accounts' GPU use is forgotten; within a priority, jobs of
    /// accounts that used fewer GPU-hours recently go first. <see cref="TimeSpan.Zero"/> turns fair share off
    /// (submission order within a priority; per-account limits still hold).
    /// </summary>
    public TimeSpan FairShareHalfLife { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How long ended jobs (and their output) are kept in the store; null to keep them forever.</summary>
    public TimeSpan? JobRetention { get; set; } = TimeSpan.FromDays(30);

    /// <summary>How long audit records are kept in the store (docs/audit.md); null to keep them forever.</summary>
    public TimeSpan? AuditRetention { get; set; } = TimeSpan.FromDays(365);

    /// <summary>
    /// Requests with a bad token (answered 401) from one address within <see cref="AuthFailureWindow"/>
    /// after which its requests with a token the server does not know are answered 429 (docs/audit.md).
    /// </summary>
    public int AuthFailureLimit { get; set; } = 10;

    /// <summary>The window <see cref="AuthFailureLimit"/> counts in; an address is let in again when it ends.</summary>
    public TimeSpan AuthFailureWindow { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Addresses the failed-token limiter remembers at most; past it the oldest is forgotten.</summary>
    public int AuthFailureAddresses { get; set; } = 10_000;

    /// <summary>The least severe log level written.</summary>
    public Microsoft.Extensions.Logging.LogLevel LogLevel { get; set; } = Microsoft.Extensions.Logging.LogLevel.Information;

    /// <summary>
    /// Characters of output stored per job attempt and stream (stdout, stderr); past it the rest is
    /// dropped and a note says so (<see cref="LogLimit"/>). <see cref="NoLogLimit"/> for none.
    /// </summary>
    public long MaxJobLogChars { get; set; } = LogLimit.DefaultChars;

    /// <summary><see cref="MaxJobLogChars"/> when output is never cut (<c>--max-job-log off</c>).</summary>
    public const long NoLogLimit = long.MaxValue;

    /// <summary>Largest request body accepted.</summary>
    public long MaxRequestBodyBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// The most of the fleet's GPUs the health policy may take out of service (cordoned, or on a node it
    /// drained) on its own, as a fraction; past it, it holds and records that it waits for a person.
    /// </summary>
    public double MaxAutoCordon { get; set; } = 0.5;

    /// <summary>How long a GPU must stay clean after a reset (or without the condition that degraded it) before it is healthy again.</summary>
    public TimeSpan GpuCleanFor { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>XIDs whose action differs from the default table (<see cref="Health.XidPolicy.Defaults"/>).</summary>
    public IReadOnlyDictionary<long, Health.XidAction> XidPolicy { get; set; } = new Dictionary<long, Health.XidAction>();

    /// <summary>A Prometheus rule file (<c>groups:</c> of alerting rules) evaluated with the built-in rules; reloaded when it changes.</summary>
    public string? RulesFile { get; set; }

    /// <summary>How often the alert rules are evaluated.</summary>
    public TimeSpan AlertInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Against flapping: a firing alert resolves only after its expression stayed clear this long (every
    /// rule's <c>keep_firing_for</c> is at least this). 0s: as soon as it is clear.
    /// </summary>
    public TimeSpan AlertResolveAfter { get; set; } = TimeSpan.Zero;

    /// <summary>Built-in rules switched off by name (e.g. <c>GantryGpuHot</c>), or <c>all</c>.</summary>
    public IReadOnlyList<string> DisabledRules { get; set; } = [];

    /// <summary>Alertmanager URLs (<c>http://host:9093</c>) alerts are posted to (<c>/api/v2/alerts</c>).</summary>
    public IReadOnlyList<Uri> Alertmanagers { get; set; } = [];

    /// <summary>Webhook URLs sent Alertmanager's webhook payload (version 4) when an alert fires or resolves.</summary>
    public IReadOnlyList<Uri> AlertWebhooks { get; set; } = [];

    /// <summary>The secret webhook bodies are signed with (HMAC-SHA256); null sends them unsigned.</summary>
    public string? AlertWebhookSecret { get; set; }

    /// <summary>The dashboard's URL as people reach it, for alerts' links (<c>generatorURL</c>); default: the advertise URL.</summary>
    public string? ExternalUrl { get; set; }

    /// <summary>Which telemetry series are scored against their own history (GPUs are always compared with their peers).</summary>
    public Anomalies.AnomalyHistory AnomalyHistory { get; set; } = Anomalies.AnomalyHistory.Nodes;

    // Job energy (added with the energy feature).

    /// <summary>How often running attempts' live energy is written to the store (it is kept in memory between, and written at every attempt's end).</summary>
    public TimeSpan EnergyWriteInterval { get; set; } = TimeSpan.FromSeconds(30);

    // Power caps (docs/power.md).

    /// <summary>The fleet's GPU power budget in watts (<c>--power-budget</c>); null for none.</summary>
    public double? PowerBudgetWatts { get; set; }

    /// <summary>How often the power budget is checked when no job starts or ends (<c>--power-budget-interval</c>).</summary>
    public TimeSpan PowerBudgetInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long raw telemetry samples are kept.</summary>
    public TimeSpan RetentionRaw { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How long per-minute telemetry rollups are kept; at least <see cref="RetentionRaw"/>.</summary>
    public TimeSpan RetentionRollup { get; set; } = TimeSpan.FromDays(30);

    // --- Carbon intensity (Carbon/, docs/carbon-sources.md) ---

    /// <summary>
    /// Where carbon intensity comes from: <c>static:GRAMS</c>, <c>file:PATH</c>, <c>carbon-aware-sdk:URL</c>,
    /// <c>watttime:URL</c> or <c>electricitymaps:URL</c> (<see cref="Carbon.CarbonSourceSpec"/>); null for none.
    /// </summary>
    public string? CarbonSource { get; set; }

    /// <summary>The carbon location of every node (overrides their <c>zone</c> label); null to use the label.</summary>
    public string? CarbonLocation { get; set; }

    /// <summary>How often a remote source's forecast is fetched again per location.</summary>
    public TimeSpan CarbonRefresh { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>While the source fails, how long after it was fetched the last good forecast is still used.</summary>
    public TimeSpan CarbonMaxAge { get; set; } = TimeSpan.FromHours(3);

    /// <summary>Time limit of one request to a remote source.</summary>
    public TimeSpan CarbonTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How far ahead forecasts reach (asked of remote sources; what static and file sources give).</summary>
    public TimeSpan CarbonHorizon { get; set; } = TimeSpan.FromHours(24);

    /// <summary>The WattTime user name.</summary>
    public string? CarbonUser { get; set; }

    /// <summary>The WattTime password or the Electricity Maps token: from <c>--carbon-secret-file</c> or <c>GANTRY_CARBON_SECRET</c>, never a flag.</summary>
    public string? CarbonSecret { get; set; }

    // --- end carbon intensity ---

    // ---- power saving (idle power-down, efficient placement): PowerSaving/PowerSavingOptions.cs ----

    /// <summary>Idle power-down and the efficiency preference of placement.</summary>
    public PowerSaving.PowerSavingOptions PowerSaving { get; set; } = new();

    /// <summary>Path of the telemetry history database (separate from the state, so its writes never contend).</summary>
    public string TelemetryPath => Path.Combine(DataDir, "telemetry.db");

    /// <summary>Path of the SQLite database.</summary>
    public string DatabasePath => Path.Combine(DataDir, "gantry.db");

    /// <summary>The default data dir: /var/lib/gantry/server for root, else under XDG_DATA_HOME.</summary>
    public static string DefaultDataDir()
    {
        if (OperatingSystem.IsLinux() && Environment.UserName == "root")
        {
            return "/var/lib/gantry/server";
        }

        var data = Environment.GetEnvironmentVariable("XDG_DATA_HOME");
        if (string.IsNullOrEmpty(data))
        {
            data = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share");
        }

        return Path.Combine(data, "gantry", "server");
    }

    /// <summary>
    /// The problems with these options, each naming its setting as its member (<c>down-after</c>): what
    /// <see cref="ServerOptionsValidator"/>, source-generated, reports before the server starts.
    /// </summary>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (HeartbeatInterval < TimeSpan.FromMilliseconds(200) || HeartbeatInterval > TimeSpan.FromMinutes(5))
        {
            yield return Problem("heartbeat-interval", $"must be between 200ms and 5m, got {Durations.Format(HeartbeatInterval)}");
        }
        else if (DownAfter <= Lease)
        {
            yield return Problem("down-after", $"must be longer than two heartbeat intervals ({Durations.Format(Lease)}), got {Durations.Format(DownAfter)}");
        }

        if (KillGrace < TimeSpan.Zero || KillGrace > TimeSpan.FromHours(1))
        {
            yield return Problem("kill-grace", $"must be between 0s and 1h, got {Durations.Format(KillGrace)}");
        }

        if (ReservationAfter < TimeSpan.Zero || ReservationAfter > TimeSpan.FromDays(30))
        {
            yield return Problem("reservation-after", $"must be between 0s and 30d, got {Durations.Format(ReservationAfter)}");
        }

        if (FairShareHalfLife < TimeSpan.Zero || FairShareHalfLife > TimeSpan.FromDays(3650))
        {
            yield return Problem("fair-share-half-life", $"must be between 0s (off) and 3650d, got {Durations.Format(FairShareHalfLife)}");
        }

        if (SchedulerDepth is < 1 or > 100_000)
        {
            yield return Problem("scheduler-depth", $"must be between 1 and 100000, got {SchedulerDepth}");
        }

        if (JobRetention is { } retention && retention < TimeSpan.FromMinutes(1))
        {
            yield return Problem("job-retention", $"must be at least 1m (or off), got {Durations.Format(retention)}");
        }

        if (AuditRetention is { } auditRetention && auditRetention < TimeSpan.FromMinutes(1))
        {
            yield return Problem("audit-retention", $"must be at least 1m (or off), got {Durations.Format(auditRetention)}");
        }

        if (RetentionRaw <= TimeSpan.Zero)
        {
            yield return Problem("retention-raw", $"must be positive, got {Durations.Format(RetentionRaw)}");
        }
        else if (RetentionRollup < RetentionRaw)
        {
            yield return Problem("retention-rollup", $"must be at least --retention-raw ({Durations.Format(RetentionRaw)}), got {Durations.Format(RetentionRollup)}");
        }

        // Job energy.
        if (EnergyWriteInterval < TimeSpan.FromSeconds(1) || EnergyWriteInterval > TimeSpan.FromHours(1))
        {
            yield return Problem("energy-write-interval", $"must be between 1s and 1h, got {Durations.Format(EnergyWriteInterval)}");
        }

        if (MaxJobLogChars < LogLimit.MinChars)
        {
            yield return Problem("max-job-log", $"must be at least {Sizes.Format(LogLimit.MinChars)}, got {Sizes.Format(MaxJobLogChars)}");
        }

        if (!(MaxAutoCordon >= 0 && MaxAutoCordon <= 1))
        {
            yield return Problem("max-auto-cordon", $"must be between 0% and 100%, got {MaxAutoCordon * 100:0.##}%");
        }

        if (GpuCleanFor < TimeSpan.Zero || GpuCleanFor > TimeSpan.FromDays(7))
        {
            yield return Problem("gpu-clean-for", $"must be between 0s and 7d, got {Durations.Format(GpuCleanFor)}");
        }

        if (AlertInterval < TimeSpan.FromSeconds(1) || AlertInterval > TimeSpan.FromMinutes(10))
        {
            yield return Problem("alert-interval", $"must be between 1s and 10m, got {Durations.Format(AlertInterval)}");
        }

        if (AlertResolveAfter < TimeSpan.Zero || AlertResolveAfter > TimeSpan.FromDays(1))
        {
            yield return Problem("alert-resolve-after", $"must be between 0s and 1d, got {Durations.Format(AlertResolveAfter)}");
        }

        if (RulesFile is { } rules && RulesProblem(rules) is { } rulesProblem)
        {
            yield return Problem("rules", rulesProblem);
        }

        if (AlertWebhookSecret is { Length: < 16 })
        {
            yield return Problem("alert-webhook-secret-file", "must hold a secret of at least 16 characters");
        }

        if (ExternalUrl is { } external && !(Uri.TryCreate(external, UriKind.Absolute, out var externalUri) && externalUri.Scheme is "http" or "https"))
        {
            yield return Problem("external-url", $"must be an http:// or https:// URL, got '{external}'");
        }

        if (JoinToken is { } token && (token.Length < 16 || token.Any(char.IsWhiteSpace)))
        {
            yield return Problem("join-token", "must be at least 16 characters without spaces");
        }

        if (LeaderLease < TimeSpan.FromSeconds(3) || LeaderLease > TimeSpan.FromMinutes(5))
        {
            yield return Problem("leader-lease", $"must be between 3s and 5m, got {Durations.Format(LeaderLease)}");
        }

        if (AdvertiseUrl is { } advertise && !(Uri.TryCreate(advertise, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"))
        {
            yield return Problem("advertise-url", $"must be an http:// or https:// URL, got '{advertise}'");
        }

        if (Store is not null && !UsesPostgres)
        {
            yield return Problem("store", $"must be a PostgreSQL URL (postgres://user@host[:port]/database), got '{Store}'; leave it out for SQLite in --data-dir");
        }

        if (UsesPostgres && StoreProblem(Store!) is { } storeProblem)
        {
            yield return Problem("store", storeProblem);
        }

        foreach (var problem in TlsProblems())
        {
            yield return problem;
        }

        if (string.IsNullOrWhiteSpace(DataDir))
        {
            yield return Problem("data-dir", "must not be empty");
        }

        // Power caps (docs/power.md).
        if (PowerBudgetWatts is { } budget && !(budget >= 1 && budget <= 1e9))
        {
            yield return Problem("power-budget", $"must be between 1W and 1000MW, got {budget} W");
        }

        if (PowerBudgetInterval < TimeSpan.FromSeconds(1) || PowerBudgetInterval > TimeSpan.FromHours(1))
        {
            yield return Problem("power-budget-interval", $"must be between 1s and 1h, got {Durations.Format(PowerBudgetInterval)}");
        }

        // Carbon intensity: the source's own needs (credentials, a readable trace) and the timings.
        foreach (var (setting, message) in Carbon.CarbonSettings.Problems(this))
        {
            yield return Problem(setting, message);
        }

        // Power saving: its own rules (PowerSaving/PowerSavingOptions.cs).
        foreach (var problem in PowerSaving.Problems())
        {
            yield return problem;
        }
    }

    private static ValidationResult Problem(string setting, string message) => new(message, [setting]);

    // HTTPS: a certificate and key that load (a bad pair stops the start, as a bad rules file does), and no
    // plain HTTP beyond loopback unless asked for: tokens would cross the network in the clear.
    private IEnumerable<ValidationResult> TlsProblems()
    {
        if (TlsAuto && (TlsCert is not null || TlsKey is not null))
        {
            yield return Problem("tls", "auto makes its own certificate: leave out --tls-cert and --tls-key, or --tls auto");
            yield break;
        }

        if ((TlsCert is null) != (TlsKey is null))
        {
            yield return TlsCert is null ? Problem("tls-cert", "is needed with --tls-key") : Problem("tls-key", "is needed with --tls-cert");
            yield break;
        }

        if (TlsCert is not null && TlsKey is not null)
        {
            string? problem = null, setting = null;
            try
            {
                _ = Tls.CertificatePair.Load(TlsCert, TlsKey, TimeProvider.System.GetUtcNow());
            }
            catch (Tls.TlsFileException ex)
            {
                (setting, problem) = (ex.Setting, ex.Message);
            }

            if (problem is not null)
            {
                yield return Problem(setting!, problem);
            }
        }

        if (!UsesTls && !InsecureHttp && !IPAddress.IsLoopback(Listen.Address))
        {
            yield return Problem("listen", $"{Listen} is not a loopback address, and plain HTTP there would send tokens unencrypted: give --tls-cert and --tls-key, or --tls auto, or --insecure-http to serve plain HTTP anyway");
        }
    }

    // At start a rules file must load (as Prometheus refuses to start with a bad one); a later bad
    // version is refused at reload and the last good rules stay.
    private static string? RulesProblem(string path)
    {
        try
        {
            var groups = Alerts.Rules.RuleFile.Parse(File.ReadAllText(path), Alerts.Rules.RuleOrigin.File);
            return groups.Any(g => g.Name == Alerts.Rules.BuiltInRules.GroupName) ? $"{path}: group \"{Alerts.Rules.BuiltInRules.GroupName}\" is the built-in rules' group; choose another name" : null;
        }
        catch (Alerts.Rules.AlertRuleException ex)
        {
            return $"{path}: {ex.Message}";
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return $"cannot read {path}: {ex.Message}";
        }
    }

    // A URL that does not parse, or a parameter Npgsql does not know, is a bad setting: refused before
    // anything starts, in words that never repeat the password.
    private static string? StoreProblem(string store)
    {
        try
        {
            _ = new Npgsql.NpgsqlConnectionStringBuilder(Storage.Postgres.PostgresUrl.ToConnectionString(store));
            return null;
        }
        catch (FormatException ex)
        {
            return ex.Message;
        }
        catch (ArgumentException ex)
        {
            return $"has a parameter PostgreSQL connections do not take: {ex.Message}";
        }
    }
}
