using System.CommandLine;
using Gantry.Agent;
using Gantry.Agent.Configuration;
using Gantry.Hosting;
using Gantry.Hosting.Settings;
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

    public static Command Create()
    {
        var command = new Command("agent", Description);
        var config = SettingFlags.ConfigOption("{\"nodePowerEnvelopeWatts\": 1500}");
        command.Options.Add(config);
        var flags = new SettingFlags();
        flags.AddAll(command, AgentSettings.All);

        command.SetAction(async (parseResult, cancellationToken) =>
        {
            AgentOptions agentOptions;
            try
            {
                agentOptions = await AgentSettings.LoadAsync(flags.Given(parseResult), parseResult.GetValue(config), cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (SettingException ex)
            {
                await ex.WriteToAsync(Console.Error, "gantry agent").ConfigureAwait(false);
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
            built = AgentHost.Build(options, configureLogging: GantryHost.WriteToConsole);
        }
        catch (SettingException ex)
        {
            await ex.WriteToAsync(Console.Error, "gantry agent").ConfigureAwait(false);
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
        var interval = SettingParsers.FormatDuration(options.Interval);
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
