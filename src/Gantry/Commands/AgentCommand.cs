using System.CommandLine;
using Gantry.Agent;
using Gantry.Agent.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gantry.Commands;

/// <summary><c>gantry agent</c>: the node daemon.</summary>
internal static class AgentCommand
{
    /// <summary>What <c>gantry --help</c> and <c>gantry agent --help</c> say it does.</summary>
    public const string Description = """
        Run the node agent: sample this machine's host and GPUs and serve them over HTTP.
        With --server it also joins a control plane and runs the jobs it is given.

        Settings come from flags, then GANTRY_* environment variables (GANTRY_INTERVAL=2s,
        GANTRY_APP_METRICS_URL=url1,url2), then the JSON file given by --config
        ({"interval": "2s", "appMetricsUrls": ["http://127.0.0.1:8000/metrics"]}), in that
        order of precedence. A bad value stops the agent with exit code 2.
        """;

    private static readonly (string Name, string HelpName, string Description, bool IsFlag, bool Repeatable)[] Options =
    [
        ("listen", "ADDRESS:PORT", "Address and port for /metrics, /status, /events and /healthz. ':9450' listens on all interfaces. (default: 127.0.0.1:9450)", false, false),
        ("interval", "DURATION", "Time between samples, e.g. 5s, 2s, 1m; at least 1s. (default: 5s)", false, false),
        ("collector-timeout", "DURATION", "How long one collector may take before its reading is left out of a sample. (default: 80% of the interval, at most 10s)", false, false),
        ("nvml-library", "PATH", "Load NVML from this file instead of the driver's libnvidia-ml.so.1 (nvml.dll on Windows).", false, false),
        ("no-nvml", "", "Do not load NVML: no GPU metrics.", true, false),
        ("simulate-gpus", "N", "Report N simulated GPUs with changing readings, for demos and machines without GPUs. Every simulated series is labelled simulated=\"true\". (default: 0)", false, false),
        ("app-metrics-url", "URL", "Prometheus endpoint of a local inference server (vLLM, TGI, or one exporting model_tokens_total); repeatable. Exports tokens per second and tokens per joule.", false, true),
        ("dcgm-compat", "", "Also emit dcgm-exporter's metric names and labels for its default counters, so existing Grafana dashboards work unchanged.", true, false),
        ("node-power-envelope-watts", "WATTS", "The node's power budget; exports gantry_node_power_above_envelope.", false, false),
        ("procfs", "PATH", "Where procfs is mounted, e.g. /host/proc in a container. (default: /proc)", false, false),
        ("sysfs", "PATH", "Where sysfs is mounted. (default: /sys)", false, false),
        ("log-level", "LEVEL", "trace, debug, info, warning or error. (default: info)", false, false),
        ("server", "URL[,URL...]", "Join this control plane (gantry server) and run the jobs it assigns. Without it the agent runs alone. Give the URLs of several replicas sharing one database, separated by commas (in a config file also a JSON array): the agent talks to one at a time, follows the leader a standby names (307), and moves on to the next URL when one refuses, times out or answers 503, backing off after each full round.", false, false),
        ("join-token", "TOKEN", "The server's join token; required with --server. Prefer --join-token-file or the environment: flags show in ps.", false, false),
        ("join-token-file", "FILE", "Read the join token from the first line of FILE.", false, false),
        ("state-dir", "DIR", "Where the node id and running attempts are kept. (default: /var/lib/gantry/agent as root, else $XDG_STATE_HOME/gantry/agent or ~/.local/state/gantry/agent)", false, false),
        ("labels", "K=V,...", "Node labels jobs can select on, e.g. gpu=h100,zone=a.", false, false),
        ("node-name", "NAME", "The node's name at the server. (default: the host name)", false, false),
        ("advertise-url", "URL", "The URL the server and Prometheus use to reach this agent. (default: http:// + the listen address)", false, false),
        ("gc-gen0-size", "SIZE", "How much the agent allocates between two garbage collections (the GC's generation-0 budget, also its largest), e.g. 1MiB, 4MiB, or off for the runtime's defaults (a budget sized from the CPU cache, tens of MiB, and 4 MiB heap regions). Small keeps resident memory low; the GC's regions are sized to match (1 to 4 MiB). Applied by restarting the agent in place at start (same pid); DOTNET_GCgen0size, DOTNET_GCgen0MaxBudget or DOTNET_GCRegionSize, if you set any, win. Linux only. (default: 1MiB)", false, false),
    ];

    public static Command Create()
    {
        var command = new Command("agent", Description);
        var config = new Option<string>("--config") { Description = "JSON config file; keys are the flags in camelCase (\"nodePowerEnvelopeWatts\"). [env: GANTRY_CONFIG]", HelpName = "FILE" };
        command.Options.Add(config);
        var options = new List<(string Name, Option Option, bool IsFlag)>();
        foreach (var (name, helpName, description, isFlag, repeatable) in Options)
        {
            var text = $"{description} [env: {AgentSettings.EnvironmentName(name)}]";
            Option option = isFlag
                ? new Option<bool>("--" + name) { Description = text }
                : repeatable
                    ? new Option<string[]>("--" + name) { Description = text, HelpName = helpName, AllowMultipleArgumentsPerToken = false }
                    : new Option<string>("--" + name) { Description = text, HelpName = helpName };
            command.Options.Add(option);
            options.Add((name, option, isFlag));
        }

        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var flags = new Dictionary<string, IReadOnlyList<string>>();
            foreach (var (name, option, isFlag) in options)
            {
                if (parseResult.GetResult(option) is { Implicit: false } result)
                {
                    flags[name] = isFlag
                        ? [result.Tokens.Count > 0 ? result.Tokens[0].Value : "true"]
                        : result.Tokens.Select(t => t.Value).ToArray();
                }
            }

            AgentOptions agentOptions;
            try
            {
                agentOptions = AgentSettings.Load(flags, Environment.GetEnvironmentVariable, parseResult.GetValue(config));
            }
            catch (SettingException ex)
            {
                await Console.Error.WriteLineAsync($"gantry agent: --{ex.Setting}: {ex.Message}").ConfigureAwait(false);
                return GantryCli.UsageError;
            }

            // Before anything else runs: this may replace the process (execve) with the GC setting applied.
            var added = AgentRuntime.RemoveAdded(Environment.GetEnvironmentVariable, Environment.SetEnvironmentVariable);
            var runtimeProblem = added.Count == 0 ? AgentRuntime.Apply(agentOptions.EffectiveGcGen0Size) : null;
            return await RunAsync(agentOptions, added.Contains(AgentRuntime.Gen0SizeVariable), runtimeProblem, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    private static async Task<int> RunAsync(AgentOptions options, bool gen0SizeApplied, string? runtimeProblem, CancellationToken cancellationToken)
    {
        WebApplication built;
        try
        {
            built = AgentHost.Build(options, configureLogging: logging => logging.AddSimpleConsole(console =>
            {
                console.SingleLine = true;
                console.TimestampFormat = "yyyy-MM-ddTHH:mm:ss ";
                console.UseUtcTimestamp = true;
            }));
        }
        catch (SettingException ex)
        {
            await Console.Error.WriteLineAsync($"gantry agent: --{ex.Setting}: {ex.Message}").ConfigureAwait(false);
            return GantryCli.UsageError;
        }

        await using var app = built;
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Gantry.Agent");
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            // Kestrel reports bind failures (address in use, permission denied) as IOException.
            await Console.Error.WriteLineAsync($"gantry agent: cannot listen on {options.Listen}: {ex.Message}").ConfigureAwait(false);
            return 1;
        }

        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? options.Listen.ToString();
        var interval = AgentSettings.FormatDuration(options.Interval);
        AgentLog.Listening(logger, address, interval);
        if (options.SimulateGpus > 0)
        {
            AgentLog.SimulatingGpus(logger, options.SimulateGpus);
        }

        if (gen0SizeApplied)
        {
            var size = Gantry.Core.Text.Sizes.Format(options.EffectiveGcGen0Size);
            AgentLog.Gen0Size(logger, size);
        }
        else if (runtimeProblem is not null)
        {
            AgentLog.Gen0SizeNotApplied(logger, runtimeProblem);
        }

        await app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
        return 0;
    }
}
