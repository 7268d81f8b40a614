using System.CommandLine;
using System.Globalization;
using System.Net;
using Gantry.Cli.Http;
using Gantry.Cli.Jobs;
using Gantry.Cli.Output;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Core.Text;

namespace Gantry.Cli.Services;

/// <summary><c>gantry services run|ls|show|stop|logs</c> (docs/services.md): a service is a job of kind service.</summary>
internal static class ServicesCommand
{
    /// <summary>What <c>gantry --help</c> and <c>gantry services --help</c> say it does.</summary>
    internal const string Description = "Run long-lived services (model servers: vLLM, Ollama) that are restarted when they exit, list them with their health and throughput, stop them.";

    public static Command Create(CliContext context)
    {
        var options = new ClientOptions();
        var services = new Command("services", Description);
        options.AddTo(services);
        services.Subcommands.Add(CreateRun(context, options));
        services.Subcommands.Add(CreateList(context, options));
        services.Subcommands.Add(CreateShow(context, options));
        services.Subcommands.Add(CreateStop(context, options));
        services.Subcommands.Add(CreateLogs(context, options));
        return services;
    }

    /// <summary>The run command; <paramref name="runOptions"/> is exposed so tests can read the mapping.</summary>
    internal static Command CreateRun(CliContext context, ClientOptions options, ServiceRunOptions? runOptions = null)
    {
        var flags = runOptions ?? new ServiceRunOptions();
        var command = new Command("run", """
            Run a service: a command or container that runs until stopped, restarted when it exits (or
            fails its health check) by its restart policy, and placed on another node when its node is lost.
              gantry services run web --port 8080 --health-http :8080/ -- python -m http.server 8080
              gantry services run api --image registry.local/api:1 --port 8000 --health-tcp :8000
              gantry services run vllm --model meta-llama/Llama-3.1-8B-Instruct --gpus 2 --max-model-len 4096
              gantry services run ollama --model llama3.1:8b --gpus 1
            Presets (NAME vllm or ollama with --model) make the image, arguments, port, health check and
            metrics path; --image overrides the image (an offline registry). Prints the job id.
            """);
        flags.AddTo(command);
        command.SetAction((parseResult, cancellationToken) => ClientInvocation.RunAsync(context, parseResult, options, "gantry services run", async (invocation, ct) =>
        {
            var (submission, note) = flags.Build(parseResult);
            var body = await invocation.Api.PostAsync("api/v1/jobs", submission, GantryJson.Default.JobSubmission, ct).ConfigureAwait(false);
            if (note is not null)
            {
                await context.Error.WriteAsync("gantry: " + note + "\n").ConfigureAwait(false);
            }

            if (invocation.Format == OutputFormat.Json)
            {
                JsonOutput.Write(context.Output, body);
            }
            else
            {
                var response = Paging.Deserialize(body, ResponseJson.For<SubmitResponse>());
                await context.Output.WriteAsync(Formats.Number(response.JobIds[0]) + "\n").ConfigureAwait(false);
            }

            return ExitCodes.Success;
        }, cancellationToken));
        return command;
    }

    private static Command CreateList(CliContext context, ClientOptions options)
    {
        var limit = new Option<string>("--limit") { Description = "Show at most this many services, newest first. (default: 100)", HelpName = "N" };
        var all = new Option<bool>("--all") { Description = "Ended services too (GET /api/v1/jobs?kind=service); HEALTH then shows how an ended one ended." };
        var command = new Command("ls", """
            List the running services (and those waiting to restart), newest first. HEALTH is starting,
            healthy, unhealthy or restarting; NODE:PORT is where it serves; RUNNING and WAITING are its
            requests (from its metrics), TOK/S the tokens it generates per second, GPU W its GPUs' power and
            TOK/J the tokens per joule; '-' where nothing was measured, '(sim)' where the GPUs are
            simulated (figures made up, not measured). With --all, ended services too.
            """) { limit, all };
        command.Aliases.Add("list");
        command.SetAction((parseResult, cancellationToken) => ClientInvocation.RunAsync(context, parseResult, options, "gantry services ls", async (invocation, ct) =>
        {
            var count = SubmitOptions.ParseInt(parseResult.GetValue(limit), "--limit", min: 1, max: 1_000_000) ?? 100;
            var items = parseResult.GetValue(all)
                ? await Paging.ReadAsync<JobInfo>(invocation, "api/v1/jobs", state: null, count, ct, "kind=service").ConfigureAwait(false)
                : await Paging.ReadAsync<JobInfo>(invocation, "api/v1/services", state: null, count, ct).ConfigureAwait(false);
            if (invocation.Format == OutputFormat.Table)
            {
                ServiceViews.WriteTable(context.Output, items, context.TableWidth);
            }

            return ExitCodes.Success;
        }, cancellationToken));
        return command;
    }

    private static Command CreateShow(CliContext context, ClientOptions options)
    {
        var which = ServiceArgument();
        var command = new Command("show", "Show one service: its health, address, restarts and metrics, then its job (command, attempts, history).") { which };
        command.SetAction((parseResult, cancellationToken) => ClientInvocation.RunAsync(context, parseResult, options, "gantry services show", async (invocation, ct) =>
        {
            var id = await ResolveAsync(invocation, parseResult.GetValue(which), ct).ConfigureAwait(false);
            var body = await invocation.Api.GetAsync("api/v1/jobs/" + Formats.Number(id), ct).ConfigureAwait(false);
            if (invocation.Format == OutputFormat.Json)
            {
                JsonOutput.Write(context.Output, body);
            }
            else
            {
                ServiceViews.WriteShow(context.Output, Paging.Deserialize(body, ResponseJson.For<JobInfo>()), invocation.Now, context.TableWidth);
            }

            return ExitCodes.Success;
        }, cancellationToken));
        return command;
    }

    private static Command CreateStop(CliContext context, ClientOptions options)
    {
        var which = ServiceArgument();
        var command = new Command("stop", "Stop a service for good: its process or container is stopped (SIGTERM, then SIGKILL after the grace) and it is not restarted.") { which };
        command.SetAction((parseResult, cancellationToken) => ClientInvocation.RunAsync(context, parseResult, options, "gantry services stop", async (invocation, ct) =>
        {
            var id = await ResolveAsync(invocation, parseResult.GetValue(which), ct).ConfigureAwait(false);
            var body = await invocation.Api.PostAsync($"api/v1/jobs/{Formats.Number(id)}/cancel", body: null, ct).ConfigureAwait(false);
            if (invocation.Format == OutputFormat.Json)
            {
                JsonOutput.Write(context.Output, body);
            }
            else
            {
                var job = Paging.Deserialize(body, ResponseJson.For<JobInfo>());
                var label = job.Name is null ? $"service {job.Id}" : $"service {job.Name} (job {job.Id})";
                await context.Output.WriteAsync(job.State.IsTerminal() ? $"{label} stopped\n" : $"{label} is stopping; its node stops it\n").ConfigureAwait(false);
            }

            return ExitCodes.Success;
        }, cancellationToken));
        return command;
    }

    private static Command CreateLogs(CliContext context, ClientOptions options)
    {
        var which = ServiceArgument();
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing output as the service writes it, across its restarts, until it is stopped." };
        var command = new Command("logs", """
            Print a service's output: stdout to stdout, stderr to stderr, every attempt (restart) in order.
            With -o json, print the API's NDJSON records.
            """) { which, follow };
        command.SetAction((parseResult, cancellationToken) => ClientInvocation.RunAsync(context, parseResult, options, "gantry services logs", async (invocation, ct) =>
        {
            var id = await ResolveAsync(invocation, parseResult.GetValue(which), ct).ConfigureAwait(false);
            await LogStream.CopyAsync(invocation, id, parseResult.GetValue(follow), ct).ConfigureAwait(false);
            return ExitCodes.Success;
        }, cancellationToken));
        return command;
    }

    private static Argument<string> ServiceArgument() => new("NAME|ID") { Description = "A running service's name, or a service's job id (the ID column of 'gantry services ls')." };

    /// <summary>A job id as given, or the id of the live service of that name (404 when none).</summary>
    internal static async Task<long> ResolveAsync(ClientInvocation invocation, string? text, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(text))
        {
            throw new UsageException("NAME|ID", "give a service's name or job id");
        }

        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
        {
            return id > 0 ? id : throw new UsageException("NAME|ID", $"expected a service's name or job id, got '{text}'");
        }

        var body = await invocation.Api.GetAsync("api/v1/services?limit=1&name=" + Uri.EscapeDataString(text), cancellationToken).ConfigureAwait(false);
        var page = Paging.Deserialize(body, ResponseJson.For<Page<JobInfo>>());
        return page.Items.Count > 0
            ? page.Items[0].Id
            : throw new ApiProblemException(HttpStatusCode.NotFound, new Problem
            {
                Title = "Not found",
                Status = 404,
                Detail = $"no running service named '{text}' (an ended one is found by its job id: gantry jobs ls)",
            });
    }
}

/// <summary>How services read in the table and the <c>show</c> view.</summary>
internal static class ServiceViews
{
    public static void WriteTable(TextWriter writer, IReadOnlyList<JobInfo> services, int width)
    {
        var table = new Table(
            new Column("NAME", MaxWidth: 32, MinWidth: 8),
            new Column("ID", AlignRight: true),
            new Column("HEALTH"),
            new Column("NODE:PORT", MaxWidth: 40, MinWidth: 21),
            new Column("RESTARTS", AlignRight: true),
            new Column("RUNNING", AlignRight: true),
            new Column("WAITING", AlignRight: true),
            new Column("TOK/S", AlignRight: true),
            new Column("GPU W", AlignRight: true),
            new Column("TOK/J", AlignRight: true));
        foreach (var job in services)
        {
            var status = job.ServiceStatus;
            var metrics = status?.Metrics;
            table.AddRow(
                job.Name ?? "-",
                Formats.Number(job.Id),
                Health(job),
                Address(job),
                Formats.Number(status?.Restarts ?? 0),
                ServiceNumbers.OrDash(metrics?.RequestsRunning, "0"),
                ServiceNumbers.OrDash(metrics?.RequestsWaiting, "0"),
                ServiceNumbers.OrDash(metrics?.GeneratedTokensPerSecond),
                ServiceNumbers.OrDash(metrics?.GpuPowerWatts, "0") + Sim(metrics),
                ServiceNumbers.OrDash(metrics?.TokensPerJoule, "0.##") + Sim(metrics));
        }

        if (table.RowCount == 0)
        {
            writer.Write("No services.\n");
            return;
        }

        table.Write(writer, width);
    }

    public static void WriteShow(TextWriter writer, JobInfo job, DateTimeOffset now, int width)
    {
        var status = job.ServiceStatus;
        var service = job.Service;
        var restart = service?.Restart;
        var metrics = status?.Metrics;
        new KeyValueWriter()
            .Add("Service", job.Name)
            .Add("Health", Health(job))
            .Add("Message", status?.Message)
            .Add("Address", status?.Address is { } a ? $"{a.Host}:{Formats.Number(a.Port)} (node {a.NodeId})" : null)
            .AddIfPresent("Metrics URL", status?.Address?.MetricsUrl)
            .Add("Restarts", Formats.Number(status?.Restarts ?? 0))
            .AddIfPresent("Next start", status?.NextStartAt is { } next ? Formats.Instant(next, now) : null)
            .Add("Restart policy", restart is null ? null : string.Create(CultureInfo.InvariantCulture, $"{restart.Attempts} within {Durations.Format(TimeSpan.FromSeconds(restart.IntervalSeconds))}, after {Durations.Format(TimeSpan.FromSeconds(restart.DelaySeconds))} (+ up to 25 %)"))
            .Add("Health check", HealthCheckText(service?.Health))
            .AddIfPresent("Preset", service?.Preset)
            .AddIfPresent("Image", job.Container?.Image)
            .AddIfPresent("Tokens/s", metrics?.GeneratedTokensPerSecond is { } tps ? ServiceNumbers.OrDash(tps) : null)
            .AddIfPresent("Requests", metrics is { RequestsRunning: not null } || metrics is { RequestsWaiting: not null } ? $"{ServiceNumbers.OrDash(metrics.RequestsRunning, "0")} running, {ServiceNumbers.OrDash(metrics.RequestsWaiting, "0")} waiting" : null)
            .AddIfPresent("GPU power", metrics?.GpuPowerWatts is { } w ? ServiceNumbers.OrDash(w, "0") + " W" + (metrics.Simulated == true ? ", simulated GPUs" : "") : null)
            .AddIfPresent("Tokens/J", metrics?.TokensPerJoule is { } tpj ? ServiceNumbers.OrDash(tpj, "0.##") + (metrics.Simulated == true ? ", simulated GPUs" : "") : null)
            .AddIfPresent("Metrics note", metrics?.Note)
            .Write(writer);
        writer.Write("\nJob:\n");
        JobViews.WriteShow(writer, job, now, width);
    }

    /// <summary>" (sim)" after a figure that comes from simulated GPUs (made up, not measured), as the jobs' ENERGY column marks it.</summary>
    private static string Sim(ServiceMetricsInfo? metrics) => metrics is { Simulated: true, GpuPowerWatts: not null } ? " (sim)" : "";

    /// <summary>The HEALTH column: the service's health while it lives, its job's state once it ended.</summary>
    internal static string Health(JobInfo job) => job.ServiceStatus?.Health is { } health
        ? health switch
        {
            ServiceHealth.Starting => "starting",
            ServiceHealth.Healthy => "healthy",
            ServiceHealth.Unhealthy => "unhealthy",
            _ => "restarting",
        }
        : job.State.Name();

    /// <summary>The NODE:PORT column: the node's address and the service's port; the node alone without a port.</summary>
    internal static string Address(JobInfo job) => job.ServiceStatus?.Address is { } a
        ? $"{a.Host}:{Formats.Number(a.Port)}"
        : job.NodeId ?? "-";

    private static string HealthCheckText(HealthCheck? check) => check switch
    {
        null => "none (healthy while it runs)",
        { Kind: HealthCheckKind.Tcp } => string.Create(CultureInfo.InvariantCulture, $"tcp {check.Host}:{check.Port}, grace {Durations.Format(TimeSpan.FromSeconds(check.GraceSeconds))}"),
        _ => string.Create(CultureInfo.InvariantCulture, $"http {check.Host}:{check.Port}{check.Path ?? "/"}, grace {Durations.Format(TimeSpan.FromSeconds(check.GraceSeconds))}"),
    };
}
