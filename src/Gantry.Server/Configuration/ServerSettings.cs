using Gantry.Core.Text;
using Gantry.Hosting.Settings;
using Microsoft.Extensions.Options;

namespace Gantry.Server.Configuration;

/// <summary>
/// Every setting of <c>gantry server</c>, in <c>--help</c>'s order. Each has one name in three spellings,
/// read in this order of precedence: the flag <c>--down-after</c>, the environment variable
/// <c>GANTRY_DOWN_AFTER</c>, the config file's key <c>"downAfter"</c> (<see cref="SettingSources"/>).
/// </summary>
public static class ServerSettings
{
    /// <summary>The settings, with their help and how each value applies to <see cref="ServerOptions"/>.</summary>
    public static IReadOnlyList<Setting<ServerOptions>> All { get; } =
    [
        new("listen", SettingKind.Value, "ADDRESS:PORT", "Address and port of the API, /metrics, /healthz and /readyz. ':7070' listens on all interfaces, which needs --tls-cert/--tls-key, --tls auto or --insecure-http. (default: 127.0.0.1:7070)",
            static (o, v) => o.Listen = SettingParsers.Endpoint(v)),
        new("data-dir", SettingKind.Value, "DIR", $"Where the database, the telemetry history and the token files live. (default: {ServerOptions.DefaultDataDir()})",
            static (o, v) => o.DataDir = SettingParsers.NonEmpty(v)),
        new("tls-cert", SettingKind.Value, "FILE", "Serve HTTPS with this PEM certificate (the server's, then the CAs that signed it), with --tls-key. Read again within seconds when the files change; a new pair that cannot be used keeps the old one, with a warning. Agents pin the last certificate of the file (docs/tls.md).",
            static (o, v) => o.TlsCert = SettingParsers.FullPath(v)),
        new("tls-key", SettingKind.Value, "FILE", "The PEM private key (RSA or EC) of --tls-cert.",
            static (o, v) => o.TlsKey = SettingParsers.FullPath(v)),
        new("tls", SettingKind.Value, "auto", "auto: serve HTTPS with a certificate signed by a CA of the server's own, both made at first start in <data-dir>/tls (the server certificate is renewed when it expires within 30 days). The server prints the CA's pin and the command agents join with.",
            static (o, v) => o.TlsAuto = v.Trim().ToLowerInvariant() switch
            {
                "auto" => true,
                "off" => false,
                _ => throw new FormatException("expected auto (or off)"),
            }),
        new("insecure-http", SettingKind.Switch, "", "Serve plain HTTP on an address other than loopback: tokens then cross the network unencrypted. Without it, a non-loopback --listen needs --tls-cert/--tls-key or --tls auto.",
            static (o, v) => o.InsecureHttp = SettingParsers.Bool(v)),
        new("store", SettingKind.Value, "URL", "Where the state lives: a PostgreSQL URL (postgres://user[:password]@host[:port]/database) that several replicas share. Default: SQLite in --data-dir.",
            static (o, v) => o.Store = SettingParsers.NonEmpty(v, "a PostgreSQL URL")),
        new("leader-lease", SettingKind.Value, "DURATION", "With --store: how long the leader lease lasts among replicas. A new leader takes over at most this long after the old one died; a leader that cannot renew it for two thirds of it steps down and exits. (default: 5s)",
            static (o, v) => o.LeaderLease = SettingParsers.Duration(v)),
        new("advertise-url", SettingKind.Value, "URL", "With --store: this replica's URL as agents, the CLI and the other replicas reach it; standbys redirect there while it leads. (default: http:// or, with TLS, https:// + the listen address, the host name for 0.0.0.0)",
            static (o, v) => o.AdvertiseUrl = SettingParsers.NonEmpty(v, "a URL")),
        new("join-token", SettingKind.Value, "TOKEN", "The token agents join with, at least 16 characters. Default: generated at first start into <data-dir>/join.token.",
            static (o, v) => o.JoinToken = SettingParsers.NonEmpty(v, "a token")),
        new("heartbeat-interval", SettingKind.Value, "DURATION", "How often agents heartbeat; a node that misses two is suspect. (default: 5s)",
            static (o, v) => o.HeartbeatInterval = SettingParsers.Duration(v)),
        new("down-after", SettingKind.Value, "DURATION", "A node silent this long is down and its running jobs are lost (and requeued while retries remain). (default: 20s)",
            static (o, v) => o.DownAfter = SettingParsers.Duration(v)),
        new("kill-grace", SettingKind.Value, "DURATION", "Time between SIGTERM and SIGKILL when a job is cancelled or runs out of time. (default: 10s)",
            static (o, v) => o.KillGrace = SettingParsers.Duration(v)),
        new("reservation-after", SettingKind.Value, "DURATION", "How long a job may be overtaken by smaller jobs (backfill) before a node is reserved for it. (default: 2m)",
            static (o, v) => o.ReservationAfter = SettingParsers.Duration(v)),
        new("scheduler-depth", SettingKind.Value, "N", "Pending jobs a scheduling pass looks at first, in priority order; as many again come from a window that moves through the rest of the queue, pass by pass. (default: 500)",
            static (o, v) => o.SchedulerDepth = SettingParsers.WholeNumber(v)),
        new("fair-share-half-life", SettingKind.Value, "DURATION", "Fair share: within a priority, jobs of people who used fewer GPU-hours recently go first; their use is forgotten with this half-life (docs/fair-share.md). 0s or off: submission order within a priority. (default: 7d)",
            static (o, v) => o.FairShareHalfLife = SettingParsers.DurationOrOff(v) ?? TimeSpan.Zero),
        new("job-retention", SettingKind.Value, "DURATION", "How long ended jobs and their output are kept; older ones are purged in the background. off: keep them. (default: 30d)",
            static (o, v) => o.JobRetention = SettingParsers.DurationOrOff(v)),
        new("audit-retention", SettingKind.Value, "DURATION", "How long audit records (every change made through the API: who, from where, what, the outcome) are kept; older ones are purged in the background. off: keep them. (default: 365d)",
            static (o, v) => o.AuditRetention = SettingParsers.DurationOrOff(v)),
        new("max-auto-cordon", SettingKind.Value, "PERCENT", "The most of the fleet's GPUs the GPU health policy may take out of service by itself (cordoned, or on a node drained for a reboot-class fault), e.g. 50% or 0.5. Past it, automation holds, records that it waits for a person and changes nothing more. (default: 50%)",
            static (o, v) => o.MaxAutoCordon = ParseFraction(v)),
        new("gpu-clean-for", SettingKind.Value, "DURATION", "How long a GPU must stay clean after a reset (or after what degraded it stopped) before it is healthy again. 0s: at once. (default: 10m)",
            static (o, v) => o.GpuCleanFor = SettingParsers.Duration(v)),
        new("xid-policy", SettingKind.Pairs, "XID=ACTION,... | FILE", "What the GPU health policy does about an XID, over the default table (docs/health.md): ignore, watch, restart-app, reset-gpu or reboot, e.g. 31=ignore,119=reboot; or a JSON file {\"31\": \"ignore\"} (in a config file also the object itself). The driver's recovery action, where it reports one, wins over the table.",
            static (o, v) => o.XidPolicy = Health.XidPolicy.Parse(v)),
        new("rules", SettingKind.Value, "FILE", "A Prometheus rule file (groups of alerting rules: alert, expr, for, keep_firing_for, labels, annotations) evaluated with the built-in rules, reloaded when it changes; a file that does not parse keeps the last good rules and says where it is wrong (docs/alerts.md).",
            static (o, v) => o.RulesFile = SettingParsers.FullPath(v)),
        new("alert-interval", SettingKind.Value, "DURATION", "How often alert rules are evaluated. (default: 15s)",
            static (o, v) => o.AlertInterval = SettingParsers.Duration(v)),
        new("alert-resolve-after", SettingKind.Value, "DURATION", "Against flapping: a firing alert resolves only after its expression stayed clear this long (every rule's keep_firing_for is at least this). (default: 0s)",
            static (o, v) => o.AlertResolveAfter = SettingParsers.Duration(v)),
        new("disable-rule", SettingKind.List, "NAME", "Switch off a built-in alert rule by name (e.g. GantryGpuHot), or all of them with 'all'; repeatable. gantry alerts rules ls lists them.",
            static (o, v) => o.DisabledRules = [.. o.DisabledRules, SettingParsers.NonEmpty(v, "a rule name").Trim()]),
        new("alertmanager", SettingKind.List, "URL", "Post alerts to this Alertmanager (its v2 API), re-sent every minute while firing and once more when resolved; repeatable. Undelivered alerts are retried with backoff, also after a restart.",
            static (o, v) => o.Alertmanagers = [.. o.Alertmanagers, SettingParsers.HttpUrl(v, "http://127.0.0.1:9093")]),
        new("alert-webhook", SettingKind.List, "URL", "Post Alertmanager's webhook payload (version 4) to this URL when an alert fires or resolves, signed with --alert-webhook-secret-file; repeatable.",
            static (o, v) => o.AlertWebhooks = [.. o.AlertWebhooks, SettingParsers.HttpUrl(v, "https://hooks.example.com/gantry")]),
        new("alert-webhook-secret-file", SettingKind.Value, "FILE", "A file holding the secret (at least 16 characters) webhook bodies are signed with: HMAC-SHA256 in the X-Gantry-Signature header (docs/alerts.md).",
            static (o, v) => o.AlertWebhookSecret = ReadSecret(v)),
        new("external-url", SettingKind.Value, "URL", "The dashboard's URL as people reach it, for the links in alerts (generatorURL). (default: --advertise-url, else http(s):// + the listen address)",
            static (o, v) => o.ExternalUrl = SettingParsers.NonEmpty(v, "a URL").TrimEnd('/')),
        new("anomaly-history", SettingKind.Value, "auto|all|nodes|off", "Which telemetry series the server scores against their own history, once a minute (docs/anomalies.md): all (each node's power and CPU, each GPU's temperature and power: about 34 KB of memory per 8-GPU node), nodes (the nodes' series only, about 4 KB per node), off, or auto: all for the first 2,000 nodes, nodes for the rest. GPUs are compared with their same-model siblings in every case; at 25,000 nodes on 2 cores, nodes keeps the heartbeats' p99 at 41 ms, auto makes it 87 and all 265 (docs/benchmarks.md). (default: nodes)",
            static (o, v) => o.AnomalyHistory = v.Trim().ToLowerInvariant() switch
            {
                "auto" => Anomalies.AnomalyHistory.Auto,
                "all" => Anomalies.AnomalyHistory.All,
                "nodes" => Anomalies.AnomalyHistory.Nodes,
                "off" => Anomalies.AnomalyHistory.Off,
                _ => throw new FormatException("expected all, nodes or off"),
            }),
        new("retention-raw", SettingKind.Value, "DURATION", "How long raw telemetry samples (every heartbeat) are kept in <data-dir>/telemetry.db. (default: 24h)",
            static (o, v) => o.RetentionRaw = SettingParsers.Duration(v)),
        new("retention-rollup", SettingKind.Value, "DURATION", "How long per-minute telemetry rollups are kept; at least --retention-raw. (default: 30d)",
            static (o, v) => o.RetentionRollup = SettingParsers.Duration(v)),
        new("max-job-log", SettingKind.Value, "SIZE", "Output stored per job attempt and stream (stdout, stderr), counted in characters (bytes for ASCII text), e.g. 64MiB or 1g; past it the rest is dropped and the log says so. off: no limit. (default: 64MiB)",
            static (o, v) => o.MaxJobLogChars = Sizes.Parse(v) is var chars && chars == 0 ? ServerOptions.NoLogLimit : chars),
        // Job energy.
        new("energy-write-interval", SettingKind.Value, "DURATION", "How often running jobs' live energy figures (kept in memory from heartbeats) are written to the store; an attempt's final figures are written when it ends. (default: 30s)",
            static (o, v) => o.EnergyWriteInterval = SettingParsers.Duration(v)),

        // ---- power saving (docs/power-saving.md) ----
        new("suspend-after", SettingKind.Value, "DURATION", "Power saving, as Slurm's SuspendTime: a node idle this long, with no pending job that fits it, is suspended by --suspend-command (state suspended: nothing is placed there, its silence is expected) and resumed by --resume-command when a pending job needs it. off: never. (default: off)",
            static (o, v) => o.PowerSaving.SuspendAfter = SettingParsers.DurationOrOff(v)),
        new("suspend-command", SettingKind.Value, "PROGRAM", "With --suspend-after: the program that powers a node down, run with the node's name as its one argument; a non-zero exit (or a run past --power-command-timeout) is logged and shown, and the node stays up.",
            static (o, v) => o.PowerSaving.SuspendCommand = SettingParsers.FullPath(v)),
        new("resume-command", SettingKind.Value, "PROGRAM", "With --suspend-after: the program that powers a node up, run with the node's name as its one argument; the node is resuming until it heartbeats again.",
            static (o, v) => o.PowerSaving.ResumeCommand = SettingParsers.FullPath(v)),
        new("resume-timeout", SettingKind.Value, "DURATION", "A resuming node that has not heartbeated this long after its resume command started is marked down, with the reason. (default: 10m)",
            static (o, v) => o.PowerSaving.ResumeTimeout = SettingParsers.Duration(v)),
        new("keep-idle", SettingKind.Value, "N", "Idle nodes kept awake, never suspended, so that new jobs start at once. (default: 0)",
            static (o, v) => o.PowerSaving.KeepIdle = SettingParsers.WholeNumber(v)),
        new("power-command-timeout", SettingKind.Value, "DURATION", "How long one run of --suspend-command or --resume-command may take before it is killed and counted as failed. (default: 1m)",
            static (o, v) => o.PowerSaving.CommandTimeout = SettingParsers.Duration(v)),
        new("placement-prefer-efficient", SettingKind.Switch, "", "Among nodes that fit a job equally, place on the one with the lower measured GPU power per busy GPU (a running average of its heartbeats); the placement reason says when that decided.",
            static (o, v) => o.PowerSaving.PreferEfficient = SettingParsers.Bool(v)),
        new("log-level", SettingKind.Value, "LEVEL", "trace, debug, info, warning or error. (default: info)",
            static (o, v) => o.LogLevel = SettingParsers.LogLevel(v)),

        // Power caps (docs/power.md).
        new("power-budget", SettingKind.Value, "POWER", "A power budget for the fleet's GPUs, e.g. 20kW (W, kW or MW): divided among the nodes by demand (busy GPUs share what idle ones, held at their measured draw, leave) and enforced as GPU power caps, kept as jobs start and end. Manual and job caps below a GPU's share still apply: the lowest cap wins. (default: none)",
            static (o, v) => o.PowerBudgetWatts = Power.Watts.Parse(v)),
        new("power-budget-interval", SettingKind.Value, "DURATION", "How often the server checks the power budget when no job starts or ends (it logs when the budget does not cover the busy GPUs; caps follow every heartbeat). (default: 30s)",
            static (o, v) => o.PowerBudgetInterval = SettingParsers.Duration(v)),

        // --- Carbon intensity (docs/carbon-sources.md); the secret is read by Carbon.CarbonSettings.Complete ---
        new("carbon-source", SettingKind.Value, "SOURCE", "Where grid carbon intensity comes from, for CO2e and carbon-aware deferral: static:GRAMS (one figure, g CO2e/kWh), file:PATH (a trace CSV 'Time,Carbon Intensity' replayed against the clock, shifted by whole weeks), carbon-aware-sdk:URL (the Green Software Foundation's Carbon Aware SDK WebAPI), watttime:URL (WattTime v3, with --carbon-user and the password in GANTRY_CARBON_SECRET or --carbon-secret-file) or electricitymaps:URL (with the token the same way). Default: none (nothing is deferred, no CO2e is counted).",
            static (o, v) => o.CarbonSource = Carbon.CarbonSourceSpec.Parse(v).Text),
        new("carbon-location", SettingKind.Value, "LOCATION", "The carbon location (zone, region) of every node, as the source names it (GB, DE, CAISO_NORTH, eastus). Default: each node's 'zone' label; a node without one is in no location.",
            static (o, v) => o.CarbonLocation = Carbon.CarbonSettings.ParseLocation(v)),
        new("carbon-refresh", SettingKind.Value, "DURATION", "How often a remote source's forecast is fetched again for each location (sooner, with backoff, after a failure). (default: 10m)",
            static (o, v) => o.CarbonRefresh = SettingParsers.Duration(v)),
        new("carbon-max-age", SettingKind.Value, "DURATION", "While the source fails, the last good forecast is used until it is this old; then the location has no forecast, jobs there are no longer deferred, and the dashboard and /status warn. At least --carbon-refresh. (default: 3h)",
            static (o, v) => o.CarbonMaxAge = SettingParsers.Duration(v)),
        new("carbon-timeout", SettingKind.Value, "DURATION", "Time limit of one request to the carbon source. (default: 10s)",
            static (o, v) => o.CarbonTimeout = SettingParsers.Duration(v)),
        new("carbon-horizon", SettingKind.Value, "DURATION", "How far ahead forecasts reach: asked of remote sources, given by static and file sources; 1h to 72h. (default: 24h)",
            static (o, v) => o.CarbonHorizon = SettingParsers.Duration(v)),
        new("carbon-user", SettingKind.Value, "USER", "The WattTime user name (watttime: sources).",
            static (o, v) => o.CarbonUser = SettingParsers.NonEmpty(v, "a user name")),
        new("carbon-secret-file", SettingKind.Value, "FILE", "A file holding the WattTime password or the Electricity Maps token (the whole file, trimmed). Instead, GANTRY_CARBON_SECRET may hold it; it is never a flag.",
            static (o, v) => o.CarbonSecret = ReadSecret(v)),
    ];

    /// <summary>The trimmed first line of the file at <paramref name="path"/>.</summary>
    private static string ReadSecret(string path)
    {
        var full = SettingParsers.FullPath(path);
        try
        {
            return File.ReadAllText(full).Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new FormatException($"cannot read {full}: {ex.Message}", ex);
        }
    }

    /// <summary>A share as a percentage (<c>50%</c>) or a fraction (<c>0.5</c>).</summary>
    private static double ParseFraction(string text)
    {
        var trimmed = text.Trim();
        var percent = trimmed.EndsWith('%');
        if (!double.TryParse(percent ? trimmed[..^1] : trimmed, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
        {
            throw new FormatException("expected a percentage (50%) or a fraction (0.5)");
        }

        return percent ? value / 100 : value;
    }

    /// <summary>The source-generated validator of <see cref="ServerOptions"/>.</summary>
    public static IValidateOptions<ServerOptions> Validator { get; } = new ServerOptionsValidator();

    /// <summary>
    /// Loads the server's options from <paramref name="flags"/> (only those given on the command line, as
    /// name and value), the <c>GANTRY_*</c> environment (<paramref name="environment"/> stands in for the
    /// process's in tests) and <paramref name="configFile"/> (or <c>GANTRY_CONFIG</c>), and validates them.
    /// Throws <see cref="SettingException"/> naming each bad setting and where its value came from.
    /// </summary>
    public static Task<ServerOptions> LoadAsync(
        IEnumerable<KeyValuePair<string, string>> flags,
        string? configFile,
        IReadOnlyDictionary<string, string>? environment = null,
        CancellationToken cancellationToken = default)
    {
        var sources = SettingSources.Load([.. All.Select(s => (s.Name, s.Kind))], flags, configFile, environment);
        // complete: the carbon secret from GANTRY_CARBON_SECRET, which has no flag (Carbon.CarbonSettings).
        return SettingsLoader.LoadAsync(sources, All, Validator, complete: o => Carbon.CarbonSettings.Complete(o, sources), cancellationToken: cancellationToken);
    }
}

/// <summary>Checks <see cref="ServerOptions"/> through its <see cref="System.ComponentModel.DataAnnotations.IValidatableObject"/> rules; the body is source-generated.</summary>
[OptionsValidator]
internal sealed partial class ServerOptionsValidator : IValidateOptions<ServerOptions>;
