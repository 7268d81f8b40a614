using System.Diagnostics;
using System.Globalization;
using System.Text;
using Gantry.Core.Protocol;
using Gantry.Core.Text;

namespace Gantry.Agent.Jobs;

/// <summary>
/// Container attempts (docs/containers-jobs.md): started, stopped and ended through <see cref="ContainerJobs"/>;
/// the rest (output, records, events, timers) is the process attempt's path.
/// </summary>
internal sealed partial class JobRunner
{
    /// <summary>After the grace, the runtime's own SIGKILL gets this long before the agent sends <c>kill</c> itself.</summary>
    private static readonly TimeSpan ContainerKillMargin = TimeSpan.FromSeconds(2);

    /// <summary>After <c>kill</c>, the runtime's CLI gets this long to return before its process group is killed.</summary>
    private static readonly TimeSpan ContainerCliMargin = TimeSpan.FromSeconds(15);

    /// <summary>
    /// The runtime's CLI, in its own session as a process attempt (so the recorded pid is its group), in the
    /// foreground and attached: <c>podman run … IMAGE ARGS</c>. It runs as the agent (the runtime needs it); the
    /// job's user goes to the container as <c>--user uid:gid</c>.
    /// </summary>
    private (ProcessStartInfo Info, string Program, AttemptCgroup? Cgroup, ContainerHandle? Container) ContainerLaunch(AttemptKey key, Assignment assignment, UnixUser? user)
    {
        if (Containers is null)
        {
            throw new StartFailedException($"node {Users.NodeName} runs no container jobs");
        }

        var environment = Containers.Environment(key, assignment, NodeId);
        if (!Containers.TryPrepare(key, assignment, environment, user, NodeId, out var handle, out var arguments, out var refusal))
        {
            throw new StartFailedException(refusal!);
        }

        var info = new ProcessStartInfo
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false),
            StandardErrorEncoding = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false),
            WorkingDirectory = "/",
        };
        ContainerJobs.CliEnvironment(info.Environment);
        info.FileName = _setsid ?? handle!.Program;
        if (_setsid is not null)
        {
            info.ArgumentList.Add(handle!.Program);
        }

        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        return (info, handle!.Program, null, handle);
    }

    /// <summary>
    /// <c>stop -t GRACE</c> (the runtime sends SIGTERM, SIGKILL after the grace); <c>kill</c> from the agent once the
    /// grace and a margin are over; the CLI's group killed if it still has not returned after that.
    /// </summary>
    private void StopContainer(RunningAttempt attempt)
    {
        var container = attempt.Container!;
        if (attempt.Grace <= TimeSpan.Zero)
        {
            Containers?.Kill(container);
        }
        else
        {
            Containers?.Stop(container, attempt.Grace, () => attempt.Exited);
        }

        attempt.KillTimer?.Dispose();
        attempt.KillTimer = _time.CreateTimer(
            state =>
            {
                var a = (RunningAttempt)state!;
                if (a.Exited)
                {
                    return;
                }

                if (!a.ContainerKilled)
                {
                    a.ContainerKilled = true;
                    Containers?.Kill(a.Container!);
                    a.KillTimer?.Change(ContainerCliMargin, Timeout.InfiniteTimeSpan);
                    return;
                }

                Signal(a, ProcessGroups.SigKill);
            },
            attempt,
            attempt.Grace + ContainerKillMargin,
            Timeout.InfiniteTimeSpan);
    }

    /// <summary>
    /// After the CLI returned: out of memory when the runtime says the OOM killer ended it; the runtime's own
    /// failures (exit status 125–127) said so; the container removed either way.
    /// </summary>
    private async Task<(AttemptEndCause Cause, string? Message)> EndContainerAsync(ContainerHandle container, AttemptEndCause cause, int exitCode, string? message)
    {
        if (Containers is null)
        {
            return (cause, message);
        }

        var oom = await Containers.EndAsync(container).ConfigureAwait(false);
        if (cause == AttemptEndCause.Exited && exitCode != 0 && oom)
        {
            return (AttemptEndCause.OutOfMemory, "used more than its memory limit of " + Sizes.Format(container.MemoryBytes));
        }

        if (cause == AttemptEndCause.Exited && exitCode is 125 or 126 or 127)
        {
            var what = exitCode switch
            {
                125 => "could not run the container",
                126 => "could not invoke the container's command",
                _ => "found no such command in the container",
            };
            return (cause, string.Create(CultureInfo.InvariantCulture, $"{ContainerRuntimeCli.Name(container.Runtime)} {what} (exit status {exitCode}); its error is in the job's stderr"));
        }

        return (cause, message);
    }
}
