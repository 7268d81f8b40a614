using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Core.Text;

namespace Gantry.Cli.Jobs;

/// <summary>
/// The flags of <c>gantry jobs submit</c> and their mapping to a <see cref="JobSubmission"/>. Values are
/// read as text and checked here, so every bad value is reported with its flag and exit code 2.
/// </summary>
internal sealed class SubmitOptions
{
    private const long BytesPerMebibyte = 1024 * 1024;

    public Option<string> Name { get; } = new("--name") { Description = "A name for people; shown by 'gantry jobs ls'.", HelpName = "NAME" };

    public Option<string> Array { get; } = new("--array")
    {
        Description = "Submit one job per index of the inclusive range START-END (e.g. 1-1000); each sees its index in GANTRY_ARRAY_INDEX.",
        HelpName = "START-END",
    };

    public Option<string> Gpus { get; } = new("--gpus") { Description = "Whole GPUs the job needs; 0 for a CPU-only job. (default: 0)", HelpName = "N" };

    public Option<string> GpuMemory { get; } = new("--gpu-memory")
    {
        Description = "Least total memory each GPU must have, in MiB (81920 for an 80 GB card). (default: any)",
        HelpName = "MiB",
    };

    public Option<string> GpuModel { get; } = new("--gpu-model")
    {
        Description = "GPU model the job needs, matched case-insensitively as part of the model name ('H100' matches 'NVIDIA H100 80GB HBM3'). (default: any)",
        HelpName = "MODEL",
    };

    public Option<string> Cpus { get; } = new("--cpus") { Description = "CPU cores reserved for the job. (default: 1)", HelpName = "N" };

    public Option<string> Memory { get; } = new("--memory") { Description = "Host memory reserved for the job, in MiB. (default: 0, none reserved)", HelpName = "MiB" };

    public Option<string> Priority { get; } = new("--priority")
    {
        Description = "0 (lowest) to 100 (highest); higher-priority jobs are placed first. (default: 50)",
        HelpName = "P",
    };

    public Option<string[]> Selector { get; } = new("--selector")
    {
        Description = "Only place the job on nodes with this label (from the agent's --labels); repeatable, or comma-separated: --selector zone=a,rack=3.",
        HelpName = "KEY=VALUE",
        AllowMultipleArgumentsPerToken = false,
    };

    public Option<string> MaxRuntime { get; } = new("--max-runtime")
    {
        Description = "Stop the job after this long, e.g. 30s, 5m, 1h, 1h30m, 2d. (default: no limit)",
        HelpName = "DURATION",
    };

    public Option<string> GpuPowerCap { get; } = new("--gpu-power-cap")
    {
        Description = "Cap each of the job's GPUs at this power while it runs, in watts (e.g. 250 or 250W; 1 to 10000); their earlier limits come back when it ends. The lowest of this, a node's cap by hand and the fleet budget applies (docs/power.md).",
        HelpName = "WATTS",
    };

    // ---- carbon-aware deferral (docs/carbon.md) ----

    public Option<string> Deadline { get; } = new("--deadline")
    {
        Description = "When the job must have ended by: a duration from now (8h, 1d) or a UTC time (2026-12-02T06:00Z). With --expected-runtime the server may hold the job for the window with the cleanest forecast electricity before it; a deadline that cannot be met is refused. (default: none, never deferred)",
        HelpName = "DURATION|TIME",
    };

    public Option<string> ExpectedRuntime { get; } = new("--expected-runtime")
    {
        Description = "How long the job is expected to run, e.g. 45m or 2h; needed with --deadline (give both or neither).",
        HelpName = "DURATION",
    };

    public Option<string> Retries { get; } = new("--retries")
    {
        Description = "How many times a failed or lost job is queued again. (default: 0)",
        HelpName = "N",
    };

    public Option<string[]> Env { get; } = new("--env")
    {
        Description = "Set an environment variable for the job, on top of the agent's; repeatable. 'KEY=' sets it empty.",
        HelpName = "KEY=VALUE",
        AllowMultipleArgumentsPerToken = false,
    };

    public Option<string> WorkingDirectory { get; } = new("--workdir")
    {
        Description = "Absolute working directory on the node. (default: the agent's)",
        HelpName = "DIR",
    };

    public Option<bool> Shell { get; } = new("--shell")
    {
        Description = "Run the command with /bin/sh -c; give exactly one command string: --shell -- 'python train.py > out.log'.",
    };

    public Option<bool> Wait { get; } = new("--wait")
    {
        Description = "Wait for the job to end. One job: stream its output (stdout to stdout, stderr to stderr) and exit with its exit code "
            + "(1 when it failed without one, was cancelled or lost). An array: wait for every job; exit 0 only if all succeeded. "
            + "Ctrl+C stops waiting; the job keeps running.",
    };

    /// <summary>Container jobs (docs/containers-jobs.md): --image, --runtime, --port, --volume.</summary>
    public ContainerFlags Container { get; } = new();

    public Argument<string[]> Command { get; } = new("COMMAND")
    {
        Description = "The program and its arguments, after --, e.g. -- python train.py --epochs 3. With --image, the container's command (none: the image's own).",
        Arity = ArgumentArity.ZeroOrMore,
    };

    public void AddTo(Command command)
    {
        Option[] options = [Name, Array, Gpus, GpuMemory, GpuModel, Cpus, Memory, Priority, Selector, MaxRuntime, Retries, Env, WorkingDirectory, Shell, Wait, GpuPowerCap];
        foreach (var option in options)
        {
            command.Options.Add(option);
        }

        // Carbon-aware deferral.
        command.Options.Add(Deadline);
        command.Options.Add(ExpectedRuntime);

        // Container jobs.
        Container.AddTo(command);

        command.Arguments.Add(Command);
    }

    /// <summary>Maps the parsed flags to the request body; a bad value throws <see cref="UsageException"/>.</summary>
    public JobSubmission Build(ParseResult parseResult, DateTimeOffset? now = null)
    {
        ArgumentNullException.ThrowIfNull(parseResult);
        var command = parseResult.GetValue(Command) ?? [];
        var shell = parseResult.GetValue(Shell);
        var container = Container.Build(parseResult);
        if (command.Length == 0 && (container is null || shell))
        {
            throw new UsageException("COMMAND", "give the command to run after --, e.g. gantry jobs submit --gpus 1 -- python train.py");
        }

        CheckCommandAfterDoubleDash(parseResult, command, "gantry jobs submit --gpus 1 -- python train.py", "gantry jobs submit --gpus 1 --");

        if (shell && command.Length != 1)
        {
            throw new UsageException("--shell", $"takes exactly one command string, e.g. --shell -- 'python train.py > out.log'; got {command.Length} arguments (quote the whole command)");
        }

        var name = parseResult.GetValue(Name);
        if (name is { Length: 0 })
        {
            throw new UsageException("--name", "must not be empty");
        }

        var defaults = new ResourceRequest();
        var resources = new ResourceRequest
        {
            Gpus = ParseInt(parseResult.GetValue(Gpus), "--gpus", min: 0, max: int.MaxValue) ?? defaults.Gpus,
            GpuMemoryBytes = ParseMebibytes(parseResult.GetValue(GpuMemory), "--gpu-memory") ?? defaults.GpuMemoryBytes,
            GpuModel = NonEmpty(parseResult.GetValue(GpuModel), "--gpu-model"),
            Cpus = ParseInt(parseResult.GetValue(Cpus), "--cpus", min: 0, max: int.MaxValue) ?? defaults.Cpus,
            MemoryBytes = ParseMebibytes(parseResult.GetValue(Memory), "--memory") ?? defaults.MemoryBytes,
        };

        var (deadline, expected) = ParseDeadline(parseResult.GetValue(Deadline), parseResult.GetValue(ExpectedRuntime), now ?? TimeProvider.System.GetUtcNow());
        var submission = new JobSubmission { Command = command };
        return submission with
        {
            Name = name,
            Shell = shell,
            Env = ParsePairs(parseResult.GetValue(Env), "--env", splitCommas: false),
            WorkingDirectory = ParseWorkingDirectory(parseResult.GetValue(WorkingDirectory)),
            Resources = resources,
            Priority = ParseInt(parseResult.GetValue(Priority), "--priority", min: 0, max: 100) ?? submission.Priority,
            Selector = ParsePairs(parseResult.GetValue(Selector), "--selector", splitCommas: true),
            MaxRuntimeSeconds = ParseMaxRuntime(parseResult.GetValue(MaxRuntime)),
            Retries = ParseInt(parseResult.GetValue(Retries), "--retries", min: 0, max: int.MaxValue) ?? submission.Retries,
            Array = ParseArray(parseResult.GetValue(Array)),
            GpuPowerCapWatts = ParseGpuPowerCap(parseResult.GetValue(GpuPowerCap), resources.Gpus),
        } with
        {
            Deadline = deadline,
            ExpectedRuntimeSeconds = expected?.TotalSeconds,
        } with
        {
            Container = container,
        };
    }

    /// <summary>
    /// <c>--deadline</c> and <c>--expected-runtime</c>: both or neither, a deadline in the future that
    /// leaves room for the runtime (the server checks the same against its own clock).
    /// </summary>
    internal static (DateTimeOffset? Deadline, TimeSpan? Expected) ParseDeadline(string? deadlineText, string? expectedText, DateTimeOffset now)
    {
        if (deadlineText is null && expectedText is null)
        {
            return (null, null);
        }

        if (deadlineText is null)
        {
            throw new UsageException("--expected-runtime", "needs --deadline too (a job without a deadline is never deferred); give both or neither");
        }

        if (expectedText is null)
        {
            throw new UsageException("--deadline", "needs --expected-runtime too (how long the job runs, so it starts in time); give both or neither");
        }

        if (!Durations.TryParse(expectedText, out var expected) || expected <= TimeSpan.Zero)
        {
            throw new UsageException("--expected-runtime", $"expected a duration of more than 0s such as 45m or 2h, got '{expectedText}'");
        }

        DateTimeOffset deadline;
        if (Durations.TryParse(deadlineText, out var fromNow))
        {
            deadline = now + fromNow;
        }
        else if (DateTimeOffset.TryParse(deadlineText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at))
        {
            deadline = at;
        }
        else
        {
            throw new UsageException("--deadline", $"expected a duration from now (8h, 1d) or a time (2026-12-02T06:00Z; UTC unless it names its offset), got '{deadlineText}'");
        }

        if (deadline <= now)
        {
            throw new UsageException("--deadline", $"is in the past ({deadline.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ})");
        }

        if (deadline - now < expected)
        {
            throw new UsageException("--deadline", $"cannot be met: it is {Durations.FormatApproximate(deadline - now)} away and the job is expected to run {Durations.Format(expected)}");
        }

        return (deadline, expected);
    }

    internal static int? ParseInt(string? text, string flag, int min, int max)
    {
        if (text is null)
        {
            return null;
        }

        if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            throw new UsageException(flag, $"expected a whole number, got '{text}'");
        }

        if (value < min || value > max)
        {
            throw new UsageException(flag, max == int.MaxValue ? $"must be at least {min}, got {text}" : $"must be between {min} and {max}, got {text}");
        }

        return (int)value;
    }

    internal static long? ParseMebibytes(string? text, string flag)
    {
        if (text is null)
        {
            return null;
        }

        if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var mebibytes))
        {
            throw new UsageException(flag, $"expected a whole number of MiB (e.g. 16384 for 16 GiB), got '{text}'");
        }

        if (mebibytes < 0 || mebibytes > long.MaxValue / BytesPerMebibyte)
        {
            throw new UsageException(flag, $"must be between 0 and {long.MaxValue / BytesPerMebibyte} MiB, got {text}");
        }

        return mebibytes * BytesPerMebibyte;
    }

    private static string? NonEmpty(string? text, string flag) =>
        text is { Length: 0 } ? throw new UsageException(flag, "must not be empty") : text;

    internal static Dictionary<string, string> ParsePairs(string[]? values, string flag, bool splitCommas)
    {
        var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var value in values ?? [])
        {
            foreach (var item in splitCommas ? value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : [value])
            {
                var equals = item.IndexOf('=', StringComparison.Ordinal);
                if (equals <= 0)
                {
                    throw new UsageException(flag, $"expected KEY=VALUE, got '{item}'");
                }

                // The last one wins, as in a shell's environment.
                pairs[item[..equals]] = item[(equals + 1)..];
            }
        }

        return pairs;
    }

    private static string? ParseWorkingDirectory(string? text)
    {
        if (text is null)
        {
            return null;
        }

        // The node may not be this machine's OS: accept /unix/paths and C:\windows\paths alike.
        var absolute = text.StartsWith('/')
            || (text.Length >= 3 && char.IsAsciiLetter(text[0]) && text[1] == ':' && text[2] is '\\' or '/');
        return absolute ? text : throw new UsageException("--workdir", $"must be an absolute path on the node, got '{text}'");
    }

    private static double? ParseGpuPowerCap(string? text, int gpus)
    {
        var watts = Nodes.PowerCapCommand.ParseWatts(text, "--gpu-power-cap");
        return watts is not null && gpus == 0 ? throw new UsageException("--gpu-power-cap", "needs --gpus of at least 1") : watts;
    }

    private static double? ParseMaxRuntime(string? text)
    {
        if (text is null)
        {
            return null;
        }

        if (!Durations.TryParse(text, out var duration))
        {
            throw new UsageException("--max-runtime", $"expected a duration such as 30s, 5m, 1h or 1h30m, got '{text}'");
        }

        return duration > TimeSpan.Zero ? duration.TotalSeconds : throw new UsageException("--max-runtime", $"must be more than 0s, got '{text}'");
    }

    private static ArrayRange? ParseArray(string? text)
    {
        if (text is null)
        {
            return null;
        }

        var dash = text.IndexOf('-', StringComparison.Ordinal);
        if (dash <= 0
            || !int.TryParse(text.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out var start)
            || !int.TryParse(text.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var end))
        {
            throw new UsageException("--array", $"expected START-END with whole numbers from 0, e.g. 1-100, got '{text}'");
        }

        return end >= start
            ? new ArrayRange { Start = start, End = end }
            : throw new UsageException("--array", $"the end ({end}) comes before the start ({start}) in '{text}'");
    }

    /// <summary>
    /// Everything after -- is the command; a word before it is a typo'd flag (--gpu 2) or a command whose own
    /// flags would be taken for ours (python train.py --gpus 2), so it is refused, with <paramref name="example"/>
    /// (a whole command line) or <paramref name="commandPrefix"/> (the line up to --) to show where it goes.
    /// </summary>
    internal static void CheckCommandAfterDoubleDash(ParseResult parseResult, string[] command, string example, string commandPrefix)
    {
        ArgumentNullException.ThrowIfNull(parseResult);
        ArgumentNullException.ThrowIfNull(command);
        var afterDoubleDash = -1;
        foreach (var token in parseResult.Tokens)
        {
            if (afterDoubleDash >= 0)
            {
                afterDoubleDash++;
            }
            else if (token.Type == TokenType.DoubleDash)
            {
                afterDoubleDash = 0;
            }
        }

        if (command.Length > 0 && afterDoubleDash < command.Length)
        {
            var stray = command[0];
            throw stray.StartsWith('-')
                ? new UsageException(stray, $"unknown option; the command goes after --, e.g. {example}")
                : new UsageException("COMMAND", $"put the command after --, e.g. {commandPrefix} {stray} (found '{stray}' before --)");
        }
    }
}
