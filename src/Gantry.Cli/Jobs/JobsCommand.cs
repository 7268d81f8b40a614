using System.CommandLine;
using System.Globalization;
using Gantry.Cli.Http;
using Gantry.Cli.Nodes;
using Gantry.Cli.Output;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;

namespace Gantry.Cli.Jobs;

/// <summary><c>gantry jobs submit|ls|show|logs|cancel</c>.</summary>
internal static class JobsCommand
{
    /// <summary>What <c>gantry --help</c> and <c>gantry jobs --help</c> say it does.</summary>
    internal const string Description = "Submit jobs to the server's queue, list them, follow their output, cancel them.";

    /// <summary>Arrays up to this size print one id per line; larger contiguous ones print a range.</summary>
    internal const int ListIdsUpTo = 10;

    public static Command Create(CliContext context)
    {
        var options = new ClientOptions();
        var jobs = new Command("jobs", Description);
        options.AddTo(jobs);
        jobs.Subcommands.Add(CreateSubmit(context, options));
        jobs.Subcommands.Add(CreateList(context, options));
        jobs.Subcommands.Add(CreateShow(context, options));
        jobs.Subcommands.Add(CreateLogs(context, options));
        jobs.Subcommands.Add(CreateCancel(context, options));
        return jobs;
    }

    /// <summary>The submit command; <paramref name="submitOptions"/> is exposed so tests can read the mapping.</summary>
    internal static Command CreateSubmit(CliContext context, ClientOptions options, SubmitOptions? submitOptions = null)
    {
        var flags = submitOptions ?? new SubmitOptions();
        var command = new Command("submit", """
            Queue a job: a command to run on a node with the resources it asks for.
              gantry jobs submit --gpus 2 --gpu-model H100 --max-runtime 2h -- python train.py --epochs 3
              gantry jobs submit --array 1-100 --shell -- 'python sweep.py --trial $GANTRY_ARRAY_INDEX'
            Prints the job id (one per line for a small array, a range for a large one). With --wait
            the ids go to stderr and stdout carries the job's output.
            """);
        flags.AddTo(command);
        command.SetAction((parseResult, cancellationToken) => ClientInvocation.RunAsync(context, parseResult, options, "gantry jobs submit", async (invocation, ct) =>
        {
            var submission = flags.Build(parseResult, invocation.Now);
            var wait = parseResult.GetValue(flags.Wait);
            var body = await invocation.Api.PostAsync("api/v1/jobs", submission, GantryJson.Default.JobSubmission, ct).ConfigureAwait(false);
            var response = Paging.Deserialize(body, ResponseJson.For<SubmitResponse>());
            if (!wait)
            {
                if (invocation.Format == OutputFormat.Json)
                {
                    JsonOutput.Write(context.Output, body);
                }
                else
                {
                    await context.Output.WriteAsync(SubmittedText(response.JobIds, forStderr: false)).ConfigureAwait(false);
                }

                return ExitCodes.Success;
            }

            await context.Error.WriteAsync(SubmittedText(response.JobIds, forStderr: true)).ConfigureAwait(false);
            try
            {
                return submission.Array is null && response.JobIds.Count == 1
                    ? await LogStream.WaitAsync(invocation, response.JobIds[0], ct).ConfigureAwait(false)
                    : await ArrayWaiter.WaitAsync(invocation, response.JobIds, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                var which = response.JobIds.Count == 1 ? "job " + Formats.Number(response.JobIds[0]) : "the jobs";
                await context.Error.WriteAsync($"gantry: stopped waiting; {which} keep running ('gantry jobs cancel ID' stops one)\n").ConfigureAwait(false);
                return ExitCodes.Interrupted;
            }
        }, cancellationToken));
        return command;
    }

    /// <summary>What submit prints: ids one per line, or <c>submitted 1000 jobs 12-1011</c> for a large contiguous array.</summary>
    internal static string SubmittedText(IReadOnlyList<long> ids, bool forStderr)
    {
        if (ids.Count > ListIdsUpTo && IsContiguous(ids))
        {
            return $"{(forStderr ? "gantry: " : "")}submitted {ids.Count} jobs {ids[0]}-{ids[^1]}\n";
        }

        if (forStderr)
        {
            return ids.Count == 1 ? $"gantry: submitted job {ids[0]}\n" : $"gantry: submitted jobs {string.Join(", ", ids)}\n";
        }

        var text = new System.Text.StringBuilder();
        foreach (var id in ids)
        {
            text.Append(Formats.Number(id)).Append('\n');
        }

        return text.ToString();
    }

    private static bool IsContiguous(IReadOnlyList<long> ids)
    {
        for (var i = 1; i < ids.Count; i++)
        {
            if (ids[i] != ids[i - 1] + 1)
            {
                return false;
            }
        }

        return true;
    }

    private static Command CreateList(CliContext context, ClientOptions options)
    {
        var state = new Option<string>("--state")
        {
            Description = "Only jobs in this state: pending, assigned, running, succeeded, failed, cancelled or lost.",
            HelpName = "STATE",
        };
        var limit = new Option<string>("--limit") { Description = "Show at most this many jobs, newest first. (default: 100)", HelpName = "N" };
        var mine = new Option<bool>("--mine") { Description = "Only the jobs submitted with this token (the API's ?owner=me)." };
        var owner = new Option<string>("--owner") { Description = "Only the jobs of this person (the OWNER column).", HelpName = "NAME" };
        var command = new Command("ls", """
            List jobs, newest first. OWNER is the person whose token submitted it; GPUS is how many the
            job asked for; TIME is the run time of a job that started, else the time since it was
            submitted; REASON says why it waits or how it ended.
            """) { state, limit, mine, owner };
        command.Aliases.Add("list");
        command.SetAction((parseResult, cancellationToken) => ClientInvocation.RunAsync(context, parseResult, options, "gantry jobs ls", async (invocation, ct) =>
        {
            var stateFilter = NodesCommand.StateName<JobState>(parseResult.GetValue(state), "--state");
            var count = SubmitOptions.ParseInt(parseResult.GetValue(limit), "--limit", min: 1, max: 1_000_000) ?? 100;
            var items = await Paging.ReadAsync<JobInfo>(invocation, "api/v1/jobs", stateFilter, count, ct, OwnerFilter(parseResult.GetValue(mine), parseResult.GetValue(owner))).ConfigureAwait(false);
            if (invocation.Format == OutputFormat.Table)
            {
                JobViews.WriteTable(context.Output, items, invocation.Now, context.TableWidth);
            }

            return ExitCodes.Success;
        }, cancellationToken));
        return command;
    }

    /// <summary>The owner query of <c>jobs ls</c>: <c>owner=me</c> for --mine, <c>owner=NAME</c> for --owner; null for neither.</summary>
    internal static string? OwnerFilter(bool mine, string? owner)
    {
        if (mine && owner is not null)
        {
            throw new UsageException("--mine", "give --mine or --owner, not both");
        }

        if (owner is not null && (owner.Length == 0 || owner == "me"))
        {
            throw new UsageException("--owner", $"expected a person's name, got '{owner}' (--mine lists your own jobs)");
        }

        return mine ? "owner=me" : owner is null ? null : "owner=" + Uri.EscapeDataString(owner);
    }

    private static Command CreateShow(CliContext context, ClientOptions options)
    {
        var id = JobIdArgument();
        var command = new Command("show", "Show one job: its command, resources, state, every attempt and every state change.") { id };
        command.SetAction((parseResult, cancellationToken) => ClientInvocation.RunAsync(context, parseResult, options, "gantry jobs show", async (invocation, ct) =>
        {
            var jobId = ParseJobId(parseResult.GetValue(id));
            var body = await invocation.Api.GetAsync("api/v1/jobs/" + Formats.Number(jobId), ct).ConfigureAwait(false);
            if (invocation.Format == OutputFormat.Json)
            {
                JsonOutput.Write(context.Output, body);
            }
            else
            {
                JobViews.WriteShow(context.Output, Paging.Deserialize(body, ResponseJson.For<JobInfo>()), invocation.Now, context.TableWidth);
            }

            return ExitCodes.Success;
        }, cancellationToken));
        return command;
    }

    private static Command CreateLogs(CliContext context, ClientOptions options)
    {
        var id = JobIdArgument();
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing output as the job writes it, until it ends." };
        var command = new Command("logs", """
            Print a job's output: its stdout to stdout, its stderr to stderr, every attempt in order.
            With -o json, print the API's NDJSON records (seq, attempt, stream, data; then the end record).
            """) { id, follow };
        command.SetAction((parseResult, cancellationToken) => ClientInvocation.RunAsync(context, parseResult, options, "gantry jobs logs", async (invocation, ct) =>
        {
            var jobId = ParseJobId(parseResult.GetValue(id));
            await LogStream.CopyAsync(invocation, jobId, parseResult.GetValue(follow), ct).ConfigureAwait(false);
            return ExitCodes.Success;
        }, cancellationToken));
        return command;
    }

    private static Command CreateCancel(CliContext context, ClientOptions options)
    {
        var id = JobIdArgument();
        var command = new Command("cancel", "Cancel a job: a queued job is dropped, a running one is stopped (SIGTERM, then SIGKILL after the grace period).") { id };
        command.SetAction((parseResult, cancellationToken) => ClientInvocation.RunAsync(context, parseResult, options, "gantry jobs cancel", async (invocation, ct) =>
        {
            var jobId = ParseJobId(parseResult.GetValue(id));
            var body = await invocation.Api.PostAsync($"api/v1/jobs/{Formats.Number(jobId)}/cancel", body: null, ct).ConfigureAwait(false);
            if (invocation.Format == OutputFormat.Json)
            {
                JsonOutput.Write(context.Output, body);
            }
            else
            {
                var job = Paging.Deserialize(body, ResponseJson.For<JobInfo>());
                await context.Output.WriteAsync(job.State == JobState.Cancelled
                    ? $"job {job.Id} cancelled\n"
                    : $"job {job.Id} is {job.State.Name()}; cancel requested, its node stops it\n").ConfigureAwait(false);
            }

            return ExitCodes.Success;
        }, cancellationToken));
        return command;
    }

    private static Argument<string> JobIdArgument() => new("JOB-ID") { Description = "The job's id (printed by submit; the ID column of 'gantry jobs ls')." };

    internal static long ParseJobId(string? text) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var id) && id > 0
            ? id
            : throw new UsageException("JOB-ID", $"expected a job id (a whole number), got '{text}'");
}
