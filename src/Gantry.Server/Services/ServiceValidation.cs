using System.Globalization;
using System.Text.RegularExpressions;
using Gantry.Core.Protocol;

namespace Gantry.Server.Services;

/// <summary>
/// The rules of a submission's <c>kind</c> and <c>service</c> (docs/services.md), checked with the rest of
/// <c>POST /api/v1/jobs</c>: each broken rule names its field. A service is one job that runs until it is
/// stopped, so it refuses what only a batch job means: a maximum run time, an array, a deadline, retries.
/// </summary>
internal static partial class ServiceValidation
{
    /// <summary>Restarts allowed within the interval, at most.</summary>
    public const int MaxAttempts = 100;

    /// <summary>The longest restart interval, 366 days.</summary>
    public const double MaxIntervalSeconds = 366 * 86400;

    /// <summary>The longest health-check grace, a day (a large model may load for many minutes).</summary>
    public const double MaxGraceSeconds = 86400;

    /// <summary>The longest time between health checks, an hour.</summary>
    public const double MaxCheckIntervalSeconds = 3600;

    /// <summary>The longest a health check may take, 5 minutes.</summary>
    public const double MaxCheckTimeoutSeconds = 300;

    /// <summary>Adds an error per broken rule through <paramref name="add"/> (field, message).</summary>
    public static void Check(JobSubmission s, Action<string, string> add)
    {
        ArgumentNullException.ThrowIfNull(s);
        ArgumentNullException.ThrowIfNull(add);
        if (s.Kind != JobKind.Service)
        {
            if (s.Service is not null)
            {
                add("service", "is only for a job of kind 'service'");
            }

            return;
        }

        if (s.Name is null)
        {
            add("name", "is required for a service: it is how the service is found ('gantry services show NAME')");
        }
        else if (!ServiceName().IsMatch(s.Name))
        {
            add("name", $"must be 1 to 63 letters, digits, '-', '_' or '.', starting with a letter, for a service; got '{s.Name}'");
        }

        if (s.MaxRuntimeSeconds is not null)
        {
            add("maxRuntimeSeconds", "a service runs until it is stopped: it takes no maximum run time");
        }

        if (s.Array is not null)
        {
            add("array", "a service is one job: it takes no array");
        }

        if (s.Deadline is not null || s.ExpectedRuntimeSeconds is not null)
        {
            add(s.Deadline is not null ? "deadline" : "expectedRuntimeSeconds", "a service runs until it is stopped: it is never deferred, so it takes no deadline or expected run time");
        }

        if (s.Retries != 0)
        {
            add("retries", "a service is restarted by its restart policy (service.restart), not retried: give 0");
        }

        var service = s.Service ?? new ServiceSpec();
        var restart = service.Restart ?? new RestartPolicy();
        if (service.Restart is null)
        {
            add("service.restart", "must not be null (leave it out for the defaults)");
        }

        if (restart.Attempts is < 0 or > MaxAttempts)
        {
            add("service.restart.attempts", $"must be between 0 and {MaxAttempts}, got {restart.Attempts}");
        }

        if (!(restart.IntervalSeconds > 0 && restart.IntervalSeconds <= MaxIntervalSeconds))
        {
            add("service.restart.intervalSeconds", $"must be more than 0 and at most {MaxIntervalSeconds} (366 days), got {Number(restart.IntervalSeconds)}");
        }
        else if (!(restart.DelaySeconds >= 0 && restart.DelaySeconds <= restart.IntervalSeconds))
        {
            add("service.restart.delaySeconds", $"must be at least 0 and at most the interval ({Number(restart.IntervalSeconds)} s), got {Number(restart.DelaySeconds)}");
        }

        if (service.Port is { } port && port is < 1 or > 65535)
        {
            add("service.port", $"must be between 1 and 65535, got {port}");
        }

        if (service.MetricsPath is { } metrics)
        {
            if (!IsPath(metrics))
            {
                add("service.metricsPath", $"must be a path starting with '/' (at most 2048 printable characters), got '{metrics}'");
            }
            else if (service.Port is null && s.Container is not { Ports.Count: > 0 })
            {
                add("service.metricsPath", "needs service.port (or a published container port) to be read at");
            }
        }

        if (service.Preset is { } preset && !PresetName().IsMatch(preset))
        {
            add("service.preset", $"must be 1 to 32 lowercase letters, digits or '-', got '{preset}'");
        }

        if (service.Health is { } health)
        {
            CheckHealth(health, add);
        }
    }

    private static void CheckHealth(HealthCheck health, Action<string, string> add)
    {
        if (!Enum.IsDefined(health.Kind))
        {
            add("service.health.kind", "must be 'http' or 'tcp'");
        }

        if (health.Port is < 1 or > 65535)
        {
            add("service.health.port", $"must be between 1 and 65535, got {health.Port}");
        }

        if (health.Host is { } host && (host.Length is 0 or > 253 || host.Any(c => char.IsControl(c) || char.IsWhiteSpace(c) || c is '/' or '?' or '#' or '@')))
        {
            add("service.health.host", $"must be a host name or IP address (1 to 253 characters, no spaces or '/'), got '{host}'");
        }

        if (health.Path is { } path)
        {
            if (health.Kind == HealthCheckKind.Tcp)
            {
                add("service.health.path", "is only for an HTTP check");
            }
            else if (!IsPath(path))
            {
                add("service.health.path", $"must start with '/' (at most 2048 printable characters), got '{path}'");
            }
        }

        Seconds(health.GraceSeconds, MaxGraceSeconds, "service.health.graceSeconds", add);
        Seconds(health.IntervalSeconds, MaxCheckIntervalSeconds, "service.health.intervalSeconds", add);
        Seconds(health.TimeoutSeconds, MaxCheckTimeoutSeconds, "service.health.timeoutSeconds", add);
        if (health.FailuresBeforeUnhealthy is < 1 or > 100)
        {
            add("service.health.failuresBeforeUnhealthy", $"must be between 1 and 100, got {health.FailuresBeforeUnhealthy}");
        }
    }

    private static void Seconds(double value, double max, string field, Action<string, string> add)
    {
        if (!(value > 0 && value <= max))
        {
            add(field, $"must be more than 0 and at most {Number(max)} seconds, got {Number(value)}");
        }
    }

    private static bool IsPath(string path) => path.Length is >= 1 and <= 2048 && path[0] == '/' && !path.Any(c => char.IsControl(c) || char.IsWhiteSpace(c));

    private static string Number(double value) => value.ToString("0.###", CultureInfo.InvariantCulture);

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9._-]{0,62}$")]
    private static partial Regex ServiceName();

    [GeneratedRegex("^[a-z0-9-]{1,32}$")]
    private static partial Regex PresetName();
}
