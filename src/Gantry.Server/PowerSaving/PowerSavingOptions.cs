using System.ComponentModel.DataAnnotations;
using Gantry.Core.Text;

namespace Gantry.Server.PowerSaving;

/// <summary>
/// Idle power-down, as Slurm's power saving (<c>SuspendTime</c>, <c>SuspendProgram</c>, <c>ResumeProgram</c>,
/// <c>ResumeTimeout</c>), and the efficiency preference of placement. Off unless <see cref="SuspendAfter"/> is set.
/// </summary>
public sealed class PowerSavingOptions
{
    /// <summary>A node idle this long, with no pending job that fits it, is suspended; null: never.</summary>
    public TimeSpan? SuspendAfter { get; set; }

    /// <summary>The program run with the node's name as its argument to power it down.</summary>
    public string? SuspendCommand { get; set; }

    /// <summary>The program run with the node's name as its argument to power it up.</summary>
    public string? ResumeCommand { get; set; }

    /// <summary>A resuming node that has not heartbeated this long after its resume command started is marked down.</summary>
    public TimeSpan ResumeTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Idle nodes kept awake whatever their idle time (the quickest of them to be placed on are never suspended).</summary>
    public int KeepIdle { get; set; }

    /// <summary>How long one run of a suspend or resume command may take before it is killed and counted as failed.</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Among nodes that fit a job equally, place on the one with the lower measured power per busy GPU.</summary>
    public bool PreferEfficient { get; set; }

    /// <summary>True when idle nodes are suspended.</summary>
    public bool Enabled => SuspendAfter is not null;

    /// <summary>The problems with these settings, each naming its setting.</summary>
    public IEnumerable<ValidationResult> Problems()
    {
        if (SuspendAfter is { } after && (after < TimeSpan.FromSeconds(1) || after > TimeSpan.FromDays(30)))
        {
            yield return Problem("suspend-after", $"must be between 1s and 30d, got {Durations.Format(after)}");
        }

        if (ResumeTimeout < TimeSpan.FromSeconds(1) || ResumeTimeout > TimeSpan.FromDays(1))
        {
            yield return Problem("resume-timeout", $"must be between 1s and 1d, got {Durations.Format(ResumeTimeout)}");
        }

        if (CommandTimeout < TimeSpan.FromSeconds(1) || CommandTimeout > TimeSpan.FromHours(1))
        {
            yield return Problem("power-command-timeout", $"must be between 1s and 1h, got {Durations.Format(CommandTimeout)}");
        }

        if (KeepIdle < 0)
        {
            yield return Problem("keep-idle", $"must be 0 or more, got {KeepIdle}");
        }

        if (!Enabled)
        {
            if (SuspendCommand is not null || ResumeCommand is not null)
            {
                yield return Problem("suspend-after", "is needed with --suspend-command and --resume-command (how long a node stays idle before it is suspended)");
            }

            yield break;
        }

        foreach (var (setting, path) in new[] { ("suspend-command", SuspendCommand), ("resume-command", ResumeCommand) })
        {
            if (path is null)
            {
                yield return Problem(setting, "is needed with --suspend-after: the program run with a node's name to " + (setting == "suspend-command" ? "power it down" : "power it up"));
            }
            else if (!File.Exists(path))
            {
                yield return Problem(setting, $"{path} does not exist");
            }
            else if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) == 0)
            {
                yield return Problem(setting, $"{path} is not executable");
            }
        }
    }

    private static ValidationResult Problem(string setting, string message) => new(message, [setting]);
}
