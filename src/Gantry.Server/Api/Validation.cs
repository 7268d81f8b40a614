using System.Text.RegularExpressions;
using Gantry.Core.Protocol;

namespace Gantry.Server.Api;

/// <summary>Checks requests against the limits of the API; every error names its field.</summary>
internal static partial class Validation
{
    public const int MaxGpus = 64;
    public const int MaxCpus = 4096;
    public const long MaxMemoryBytes = 64L << 40;
    public const long MaxGpuMemoryBytes = 4L << 40;
    public const int MaxArrayTasks = 100_000;
    public const double MaxRuntimeSeconds = 366 * 86400;

    [GeneratedRegex("^[A-Za-z0-9]([A-Za-z0-9._/-]{0,62})$")]
    private static partial Regex LabelKey();

    [GeneratedRegex("^[A-Za-z0-9._-]{0,63}$")]
    private static partial Regex LabelValue();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,255}$")]
    private static partial Regex EnvName();

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,63}$")]
    private static partial Regex NodeIdPattern();

    public static bool IsNodeId(string id) => NodeIdPattern().IsMatch(id);

    public static Dictionary<string, string[]>? Check(JobSubmission s)
    {
        var errors = new Dictionary<string, string[]>();
        void Add(string field, string message) => errors.TryAdd(field, [message]);

        // A NUL cannot be stored as text in PostgreSQL, nor passed in an argument or the environment.
        if (NulIn(s.Command) is { } command)
        {
            Add($"command[{command}]", "must not contain a NUL character");
        }

        if ((NulIn(("name", s.Name), ("workingDirectory", s.WorkingDirectory))
            ?? (NulIn(s.Env) is { } env ? "env." + env : null)
            ?? (NulIn(s.Selector) is { } selector ? "selector." + selector : null)) is { } nulField)
        {
            Add(nulField, "must not contain a NUL character");
        }

        if (s.Name is { } name && (name.Length is 0 or > 200 || name.Any(char.IsControl)))
        {
            Add("name", "must be 1 to 200 printable characters");
        }

        // System.Text.Json checks that a property is not null, not the elements or values inside it.
        var nullArgument = IndexOfNull(s.Command);
        if (nullArgument >= 0)
        {
            Add($"command[{nullArgument}]", "must not be null");
        }
        else if (s.Container is null && (s.Command.Count == 0 || s.Command[0].Length == 0))
        {
            // A container job's command is its image's arguments: none runs the image's own command.
            Add("command", "must name a program (a non-empty first element)");
        }
        else if (s.Command.Count > 4096 || s.Command.Sum(c => (long)c.Length) > 256 * 1024)
        {
            Add("command", "is too long (at most 4096 arguments and 256 KiB)");
        }
        else if (s.Command.Any(c => c.Contains('\0', StringComparison.Ordinal)))
        {
            Add("command", "must not contain NUL characters");
        }
        else if (s.Shell && s.Command.Count != 1)
        {
            Add("command", $"with shell=true must be exactly one shell string, got {s.Command.Count} elements");
        }

        if (s.Env.Count > 1000)
        {
            Add("env", "has more than 1000 variables");
        }

        foreach (var (key, value) in s.Env)
        {
            if (!EnvName().IsMatch(key))
            {
                Add($"env.{key}", "is not a valid variable name (letters, digits and _, not starting with a digit)");
            }
            else if (value is null)
            {
                Add($"env.{key}", "must not be null");
            }
            else if (value.Contains('\0', StringComparison.Ordinal) || value.Length > 128 * 1024)
            {
                Add($"env.{key}", "must be at most 128 KiB without NUL characters");
            }
        }

        if (s.WorkingDirectory is { } dir && (!dir.StartsWith('/') || dir.Contains('\0', StringComparison.Ordinal) || dir.Length > 4096))
        {
            Add("workingDirectory", "must be an absolute path");
        }

        var r = s.Resources;
        if (r.Gpus is < 0 or > MaxGpus)
        {
            Add("resources.gpus", $"must be between 0 and {MaxGpus}, got {r.Gpus}");
        }

        if (r.GpuMemoryBytes is < 0 or > MaxGpuMemoryBytes)
        {
            Add("resources.gpuMemoryBytes", $"must be between 0 and {MaxGpuMemoryBytes} (4 TiB), got {r.GpuMemoryBytes}");
        }
        else if (r.GpuMemoryBytes > 0 && r.Gpus == 0)
        {
            Add("resources.gpuMemoryBytes", "needs resources.gpus of at least 1");
        }

        if (r.GpuModel is { } model && (model.Length is 0 or > 100 || model.Any(char.IsControl)))
        {
            Add("resources.gpuModel", "must be 1 to 100 printable characters");
        }
        else if (r.GpuModel is not null && r.Gpus == 0)
        {
            Add("resources.gpuModel", "needs resources.gpus of at least 1");
        }

        if (r.Cpus is < 0 or > MaxCpus)
        {
            Add("resources.cpus", $"must be between 0 and {MaxCpus}, got {r.Cpus}");
        }

        if (r.MemoryBytes is < 0 or > MaxMemoryBytes)
        {
            Add("resources.memoryBytes", $"must be between 0 and {MaxMemoryBytes} (64 TiB), got {r.MemoryBytes}");
        }

        if (s.Priority is < 0 or > 100)
        {
            Add("priority", $"must be between 0 and 100, got {s.Priority}");
        }

        CheckLabels(s.Selector, "selector", Add);
        if (s.MaxRuntimeSeconds is { } max && (double.IsNaN(max) || max <= 0 || max > MaxRuntimeSeconds))
        {
            Add("maxRuntimeSeconds", $"must be more than 0 and at most {MaxRuntimeSeconds} (366 days), got {max}");
        }

        if (s.Retries is < 0 or > 100)
        {
            Add("retries", $"must be between 0 and 100, got {s.Retries}");
        }

        // Power caps (docs/power.md).
        if (s.GpuPowerCapWatts is { } cap)
        {
            if (!(cap >= 1 && cap <= Power.PowerCaps.MaxWatts))
            {
                Add("gpuPowerCapWatts", $"must be between 1 and {Power.PowerCaps.MaxWatts} watts, got {cap}");
            }
            else if (r.Gpus == 0)
            {
                Add("gpuPowerCapWatts", "needs resources.gpus of at least 1");
            }
        }

        // Container jobs (docs/containers-jobs.md).
        if (s.Container is { } container)
        {
            CheckContainer(container, Add);
        }
        // Services (docs/services.md): the kind's own rules and what a service refuses.
        Services.ServiceValidation.Check(s, Add);

        if (s.Array is { } array)
        {
            if (array.Start < 0 || array.End < array.Start)
            {
                Add("array", $"must be a range start-end with 0 <= start <= end, got {array.Start}-{array.End}");
            }
            else if ((long)array.End - array.Start + 1 > MaxArrayTasks)
            {
                Add("array", $"has {(long)array.End - array.Start + 1} tasks; at most {MaxArrayTasks}");
            }
        }

        return errors.Count == 0 ? null : errors;
    }

    public static Dictionary<string, string[]>? Check(RegisterNodeRequest r)
    {
        var errors = new Dictionary<string, string[]>();
        void Add(string field, string message) => errors.TryAdd(field, [message]);

        if (NulIn(("name", r.Name), ("os", r.Os), ("architecture", r.Architecture), ("agentVersion", r.AgentVersion), ("agentUrl", r.AgentUrl)) is { } field)
        {
            Add(field, "must not contain a NUL character");
        }

        if (r.NodeId is { } id && !IsNodeId(id))
        {
            Add("nodeId", "must be 1 to 64 lowercase letters, digits or '-'");
        }

        if (r.Name.Length is 0 or > 253 || r.Name.Any(char.IsControl))
        {
            Add("name", "must be 1 to 253 printable characters");
        }

        if (r.CpuCores is < 1 or > 1_000_000)
        {
            Add("cpuCores", $"must be between 1 and 1000000, got {r.CpuCores}");
        }

        if (r.MemoryBytes is <= 0 or > 1L << 52)
        {
            Add("memoryBytes", $"must be positive, got {r.MemoryBytes}");
        }

        if (r.Os.Length is 0 or > 32 || r.Architecture.Length is 0 or > 32)
        {
            Add(r.Os.Length is 0 or > 32 ? "os" : "architecture", "must be 1 to 32 characters");
        }

        CheckLabels(r.Labels, "labels", Add);
        if (r.Gpus.Count > 1024)
        {
            Add("gpus", "has more than 1024 GPUs");
        }

        var seen = new HashSet<int>();
        for (var i = 0; i < r.Gpus.Count; i++)
        {
            var g = r.Gpus[i];
            if (g is null)
            {
                Add($"gpus[{i}]", "must not be null");
                continue;
            }

            if (g.Index is < 0 or > 1023 || !seen.Add(g.Index))
            {
                Add($"gpus[{i}].index", $"must be unique and between 0 and 1023, got {g.Index}");
            }

            if (g.Uuid.Length is 0 or > 128 || g.Model.Length > 200 || g.MemoryBytes < 0)
            {
                Add($"gpus[{i}]", "needs a uuid (1-128 characters), a model and a non-negative memoryBytes");
            }
        }

        if (IndexOfNull(r.RunningAttempts) is var attempt and >= 0)
        {
            Add($"runningAttempts[{attempt}]", "must not be null");
        }

        CheckContainerRuntimes(r.ContainerRuntimes, Add);

        return errors.Count == 0 ? null : errors;
    }

    /// <summary>The first null inside a heartbeat, if any; allocates nothing when there is none (one check per heartbeat).</summary>
    public static Dictionary<string, string[]>? Check(HeartbeatRequest r)
    {
        if (r.Summary is { } summary
            && (Reading("summary.powerWatts", summary.PowerWatts, MaxWatts)
                ?? Reading("summary.cpuUtilization", summary.CpuUtilization, 1)
                ?? Reading("summary.generatedTokensPerSecond", summary.GeneratedTokensPerSecond, double.MaxValue)
                ?? Reading("summary.promptTokensPerSecond", summary.PromptTokensPerSecond, double.MaxValue)) is { } bad)
        {
            return bad;
        }

        var gpus = r.Summary?.Gpus ?? [];
        for (var i = 0; i < gpus.Count; i++)
        {
            if (gpus[i] is not { } gpu)
            {
                return One($"summary.gpus[{i}]", "must not be null");
            }

            if (IndexOfNull(gpu.ThrottleReasons) is var reason and >= 0)
            {
                return One($"summary.gpus[{i}].throttleReasons[{reason}]", "must not be null");
            }

            if ((Reading($"summary.gpus[{i}].powerWatts", gpu.PowerWatts, MaxWatts)
                ?? Reading($"summary.gpus[{i}].utilization", gpu.Utilization, 1)
                ?? Reading($"summary.gpus[{i}].energyJoules", gpu.EnergyJoules, double.MaxValue)) is { } badGpu)
            {
                return badGpu;
            }
        }

        if (r.Health is { } health && Check(health) is { } badHealth)
        {
            return badHealth;
        }

        if (r.Power is { } power && Check(power) is { } badPower)
        {
            return badPower;
        }

        return IndexOfNull(r.RunningAttempts) is var attempt and >= 0 ? One($"runningAttempts[{attempt}]", "must not be null") : null;
    }

    /// <summary>The first thing wrong in a heartbeat's power report, if any (docs/power.md); allocates nothing when there is none.</summary>
    private static Dictionary<string, string[]>? Check(NodePowerReport power)
    {
        if (power.Gpus.Count > 1024)
        {
            return One("power.gpus", "has more than 1024 GPUs");
        }

        for (var i = 0; i < power.Gpus.Count; i++)
        {
            if (power.Gpus[i] is not { } gpu)
            {
                return One($"power.gpus[{i}]", "must not be null");
            }

            if (gpu.Error is { } error && (error.Length > 2000 || error.Contains('\0', StringComparison.Ordinal)))
            {
                return One($"power.gpus[{i}].error", "must be at most 2000 characters without NUL");
            }

            if ((Reading($"power.gpus[{i}].limitWatts", gpu.LimitWatts, MaxWatts)
                ?? Reading($"power.gpus[{i}].minWatts", gpu.MinWatts, MaxWatts)
                ?? Reading($"power.gpus[{i}].maxWatts", gpu.MaxWatts, MaxWatts)
                ?? Reading($"power.gpus[{i}].capWatts", gpu.CapWatts, MaxWatts)
                ?? Reading($"power.gpus[{i}].wantedWatts", gpu.WantedWatts, MaxWatts)
                ?? Reading($"power.gpus[{i}].previousWatts", gpu.PreviousWatts, MaxWatts)) is { } bad)
            {
                return bad;
            }
        }

        return null;
    }

    /// <summary>XIDs a heartbeat may carry per GPU (the agent keeps at most 256 unacknowledged).</summary>
    internal const int MaxXidsPerGpu = 256;

    /// <summary>The first thing wrong in a heartbeat's health, if any; allocates nothing when there is none.</summary>
    private static Dictionary<string, string[]>? Check(NodeHealthReport health)
    {
        if (health.BootId is { } boot && (boot.Length > 64 || boot.Contains('\0', StringComparison.Ordinal)))
        {
            return One("health.bootId", "must be at most 64 characters without NUL");
        }

        if (health.KernelLog is { } kernelLog && (kernelLog.Length > 1000 || kernelLog.Contains('\0', StringComparison.Ordinal)))
        {
            return One("health.kernelLog", "must be at most 1000 characters without NUL");
        }

        if (health.Gpus.Count > 1024)
        {
            return One("health.gpus", "has more than 1024 GPUs");
        }

        for (var i = 0; i < health.Gpus.Count; i++)
        {
            if (health.Gpus[i] is not { } gpu)
            {
                return One($"health.gpus[{i}]", "must not be null");
            }

            if (gpu.Index is < 0 or > 1023)
            {
                return One($"health.gpus[{i}].index", $"must be between 0 and 1023, got {gpu.Index}");
            }

            if (gpu.Xids.Count > MaxXidsPerGpu)
            {
                return One($"health.gpus[{i}].xids", $"has more than {MaxXidsPerGpu} XIDs");
            }

            for (var x = 0; x < gpu.Xids.Count; x++)
            {
                if (gpu.Xids[x] is not { } xid)
                {
                    return One($"health.gpus[{i}].xids[{x}]", "must not be null");
                }

                if (xid.Xid < 0)
                {
                    return One($"health.gpus[{i}].xids[{x}].xid", "must not be negative");
                }

                if (xid.Text is { } text && (text.Length > 1000 || text.Contains('\0', StringComparison.Ordinal)))
                {
                    return One($"health.gpus[{i}].xids[{x}].text", "must be at most 1000 characters without NUL");
                }
            }

            if (gpu.EccCorrectedVolatile < 0 || gpu.EccUncorrectedVolatile < 0 || gpu.NvLinkCrcErrors < 0 || gpu.PcieReplays < 0)
            {
                return One($"health.gpus[{i}]", "counters must not be negative");
            }

            if (gpu.NvLinksDown is < 0 or > 64)
            {
                return One($"health.gpus[{i}].nvLinksDown", $"must be between 0 and 64, got {gpu.NvLinksDown}");
            }
        }

        return null;
    }

    /// <summary>A person's cordon or uncordon: a GPU index in range, a short printable reason.</summary>
    public static Dictionary<string, string[]>? Check(CordonRequest request)
    {
        if (request.Gpu is { } gpu && gpu is < 0 or > 1023)
        {
            return One("gpu", $"must be between 0 and 1023, got {gpu}");
        }

        if (request.Reason is { } reason && (reason.Trim().Length is 0 or > 500 || reason.Any(char.IsControl)))
        {
            return One("reason", "must be 1 to 500 printable characters");
        }

        return null;
    }

    /// <summary>Offsets past this (2^53, a petabyte of output) are refused: an offset plus a length must not overflow.</summary>
    internal const long MaxLogOffset = 1L << 53;

    /// <summary>The first chunk of an upload that is null or has an offset out of range, if any.</summary>
    public static Dictionary<string, string[]>? Check(LogUpload upload)
    {
        for (var i = 0; i < upload.Chunks.Count; i++)
        {
            if (upload.Chunks[i] is not { } chunk)
            {
                return One($"chunks[{i}]", "must not be null");
            }

            if (chunk.Offset < 0)
            {
                return One($"chunks[{i}].offset", "must not be negative");
            }

            if (chunk.Offset > MaxLogOffset)
            {
                return One($"chunks[{i}].offset", $"must be at most {MaxLogOffset}");
            }
        }

        return null;
    }

    /// <summary>Power readings above this (a megawatt) are refused: one would make the fleet's energy meaningless.</summary>
    internal const double MaxWatts = 1e6;

    /// <summary>A reading must be absent or between 0 and <paramref name="max"/>.</summary>
    private static Dictionary<string, string[]>? Reading(string field, double? value, double max) =>
        value is { } v && !(v >= 0 && v <= max) ? One(field, max == double.MaxValue ? "must not be negative" : $"must be between 0 and {max.ToString(System.Globalization.CultureInfo.InvariantCulture)}") : null;

    /// <summary>The first of these strings (by its field name) that holds a NUL character; null when none does.</summary>
    private static string? NulIn(params (string Field, string? Value)[] values)
    {
        foreach (var (field, value) in values)
        {
            if (value?.Contains('\0', StringComparison.Ordinal) == true)
            {
                return field;
            }
        }

        return null;
    }

    private static int? NulIn(IReadOnlyList<string> values)
    {
        for (var i = 0; i < values.Count; i++)
        {
            if (values[i]?.Contains('\0', StringComparison.Ordinal) == true)
            {
                return i;
            }
        }

        return null;
    }

    private static string? NulIn(IReadOnlyDictionary<string, string> map)
    {
        foreach (var (key, value) in map)
        {
            if (key.Contains('\0', StringComparison.Ordinal) || value?.Contains('\0', StringComparison.Ordinal) == true)
            {
                return key.Replace("\0", "", StringComparison.Ordinal);
            }
        }

        return null;
    }

    private static Dictionary<string, string[]> One(string field, string message) => new() { [field] = [message] };

    private static int IndexOfNull<T>(IReadOnlyList<T> items)
        where T : class
    {
        for (var i = 0; i < items.Count; i++)
        {
            if (items[i] is null)
            {
                return i;
            }
        }

        return -1;
    }

    private static void CheckLabels(IReadOnlyDictionary<string, string> labels, string field, Action<string, string> add)
    {
        if (labels.Count > 64)
        {
            add(field, "has more than 64 labels");
        }

        foreach (var (key, value) in labels)
        {
            if (!LabelKey().IsMatch(key))
            {
                add($"{field}.{key}", "is not a valid label key (1-63 of letters, digits, '.', '_', '/', '-', starting with a letter or digit)");
            }
            else if (value is null)
            {
                add($"{field}.{key}", "must not be null");
            }
            else if (!LabelValue().IsMatch(value))
            {
                add($"{field}.{key}", "is not a valid label value (up to 63 of letters, digits, '.', '_', '-')");
            }
        }
    }
}
