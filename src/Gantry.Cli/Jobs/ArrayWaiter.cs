using System.Text;
using Gantry.Cli.Output;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;

namespace Gantry.Cli.Jobs;

/// <summary>
/// <c>--wait</c> on an array: polls the job list (newest first, stopping once past the array's oldest
/// outstanding id) with a back-off from 1s to 5s, reports progress on stderr when it changes, and
/// exits 0 only when every job succeeded.
/// </summary>
internal static class ArrayWaiter
{
    internal static readonly TimeSpan FirstDelay = TimeSpan.FromSeconds(1);
    internal static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(5);

    public static async Task<int> WaitAsync(ClientInvocation invocation, IReadOnlyList<long> ids, CancellationToken cancellationToken)
    {
        var context = invocation.Context;
        var outstanding = new HashSet<long>(ids);
        var ended = new Dictionary<JobState, int>();
        var unsuccessful = new List<JobInfo>();
        var delay = FirstDelay;
        var reported = 0;
        while (true)
        {
            await PollAsync(invocation, outstanding, ended, unsuccessful, cancellationToken).ConfigureAwait(false);
            var done = ids.Count - outstanding.Count;
            if (outstanding.Count == 0)
            {
                break;
            }

            if (done != reported)
            {
                reported = done;
                await context.Error.WriteAsync($"gantry: {done} of {ids.Count} jobs ended ({Counts(ended)})\n").ConfigureAwait(false);
            }

            await Task.Delay(delay, context.TimeProvider, cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxDelay.Ticks));
        }

        if (unsuccessful.Count == 0)
        {
            await context.Error.WriteAsync($"gantry: all {ids.Count} jobs succeeded\n").ConfigureAwait(false);
            return ExitCodes.Success;
        }

        unsuccessful.Sort(static (a, b) => a.Id.CompareTo(b.Id));
        var text = new StringBuilder().Append("gantry: ").Append(unsuccessful.Count).Append(" of ").Append(ids.Count)
            .Append(" jobs did not succeed (").Append(Counts(ended)).Append("):");
        for (var i = 0; i < unsuccessful.Count && i < 10; i++)
        {
            var job = unsuccessful[i];
            text.Append(' ').Append(job.Id).Append(' ').Append(job.State.Name());
            if (job.ExitCode is { } code)
            {
                text.Append(" (exit ").Append(code).Append(')');
            }

            text.Append(i + 1 < unsuccessful.Count ? "," : "");
        }

        text.Append(unsuccessful.Count > 10 ? " …\n" : "\n");
        await context.Error.WriteAsync(text.ToString()).ConfigureAwait(false);
        return ExitCodes.Failure;
    }

    private static async Task PollAsync(ClientInvocation invocation, HashSet<long> outstanding, Dictionary<JobState, int> ended, List<JobInfo> unsuccessful, CancellationToken cancellationToken)
    {
        var oldest = long.MaxValue;
        foreach (var id in outstanding)
        {
            oldest = Math.Min(oldest, id);
        }

        var typeInfo = Http.ResponseJson.For<Page<JobInfo>>();
        string? cursor = null;
        while (true)
        {
            var uri = "api/v1/jobs?limit=" + Formats.Number(Paging.MaxPageSize) + (cursor is null ? "" : "&cursor=" + Uri.EscapeDataString(cursor));
            var page = Paging.Deserialize(await invocation.Api.GetAsync(uri, cancellationToken).ConfigureAwait(false), typeInfo);
            var passedOldest = false;
            foreach (var job in page.Items)
            {
                passedOldest |= job.Id <= oldest;
                if (job.State.IsTerminal() && outstanding.Remove(job.Id))
                {
                    ended[job.State] = ended.GetValueOrDefault(job.State) + 1;
                    if (job.State != JobState.Succeeded)
                    {
                        unsuccessful.Add(job);
                    }
                }
            }

            // Newest first: once a page reaches the array's oldest outstanding job, older pages hold none of it.
            cursor = page.NextCursor;
            if (passedOldest || cursor is null || page.Items.Count == 0)
            {
                return;
            }
        }
    }

    private static string Counts(Dictionary<JobState, int> ended)
    {
        if (ended.Count == 0)
        {
            return "none yet";
        }

        var text = new StringBuilder();
        foreach (var state in (ReadOnlySpan<JobState>)[JobState.Succeeded, JobState.Failed, JobState.Cancelled, JobState.Lost])
        {
            if (ended.GetValueOrDefault(state) is > 0 and var count)
            {
                text.Append(text.Length > 0 ? ", " : "").Append(count).Append(' ').Append(state.Name());
            }
        }

        return text.ToString();
    }
}
