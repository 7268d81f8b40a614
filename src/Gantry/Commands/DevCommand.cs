using System.CommandLine;
using Gantry.Agent;
using Gantry.Agent.Configuration;
using Gantry.Cli.Configuration;
using Gantry.Server.Auth;
using Gantry.Server.Configuration;
using Gantry.Server.Dashboard.Auth;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Gantry.Commands;

/// <summary><c>gantry dev</c>: a server and an agent for this machine in one process.</summary>
internal static class DevCommand
{
    /// <summary>What <c>gantry --help</c> and <c>gantry dev --help</c> say it does.</summary>
    public const string Description = """
        Start a control plane and an agent for this machine in one process: the quickest way to try
        Gantry. State lives in SQLite in --data-dir; the CLI is configured to talk to it (written to
        the client config file), so 'gantry nodes ls' and 'gantry jobs submit' work right away.
        """;

    public static Command Create()
    {
        var command = new Command("dev", Description);
        var dataDir = new Option<string>("--data-dir") { Description = "Where the database, tokens and the agent's state live. (default: ./.gantry)", HelpName = "DIR" };
        var listen = new Option<string>("--listen") { Description = "Address and port of the server's API and /metrics. (default: 127.0.0.1:7070)", HelpName = "ADDRESS:PORT" };
        var agentListen = new Option<string>("--agent-listen") { Description = "Address and port of the agent's /metrics, /status, /events and /healthz. (default: 127.0.0.1:9450)", HelpName = "ADDRESS:PORT" };
        var simulate = new Option<int>("--simulate-gpus") { Description = "Give the agent N simulated GPUs (labelled simulated everywhere), for machines without GPUs. (default: 0, the real GPUs through NVML)", HelpName = "N" };
        var noClientConfig = new Option<bool>("--no-client-config") { Description = "Do not write the CLI's client config file (server URL and admin token)." };
        var logLevel = new Option<string>("--log-level") { Description = "trace, debug, info, warning or error. (default: info)", HelpName = "LEVEL" };
        var store = new Option<string>("--store") { Description = "Keep the server's state in this PostgreSQL database (postgres://user[:password]@host[:port]/database) instead of SQLite in --data-dir. [env: GANTRY_STORE]", HelpName = "URL" };
        foreach (var option in new Option[] { dataDir, listen, agentListen, simulate, noClientConfig, logLevel, store })
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var server = new ServerOptions { DataDir = parseResult.GetValue(dataDir) ?? ".gantry", JoinToken = Tokens.New("gjoin_") };
            var agent = new AgentOptions { SimulateGpus = parseResult.GetValue(simulate) };
            string? setting = null;
            try
            {
                setting = "listen";
                server.Listen = parseResult.GetValue(listen) is { } l ? AgentSettings.ParseEndpoint(l) : server.Listen;
                setting = "agent-listen";
                agent.Listen = parseResult.GetValue(agentListen) is { } a ? AgentSettings.ParseEndpoint(a) : agent.Listen;
                setting = "store";
                server.Store = parseResult.GetValue(store) ?? ServerCommand.NonEmpty(Environment.GetEnvironmentVariable("GANTRY_STORE"));
                setting = "log-level";
                server.LogLevel = ServerCommand.LogLevelOf(parseResult.GetValue(logLevel)) ?? server.LogLevel;
                agent.LogLevel = server.LogLevel;
            }
            catch (FormatException ex)
            {
                await Console.Error.WriteLineAsync($"gantry dev: --{setting}: {ex.Message}").ConfigureAwait(false);
                return GantryCli.UsageError;
            }

            if (server.Validate() is { } serverProblem)
            {
                await Console.Error.WriteLineAsync($"gantry dev: --{serverProblem.Setting}: {serverProblem.Message}").ConfigureAwait(false);
                return GantryCli.UsageError;
            }

            // Check the agent's settings before anything starts or is written; the real URL and token come after the server starts.
            agent.Server = new Uri("http://" + server.Listen);
            agent.JoinToken = server.JoinToken;
            if (agent.Validate() is { } agentProblem)
            {
                await Console.Error.WriteLineAsync($"gantry dev: --{agentProblem.Setting}: {agentProblem.Message}").ConfigureAwait(false);
                return GantryCli.UsageError;
            }

            return await RunAsync(server, agent, !parseResult.GetValue(noClientConfig), cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    private static async Task<int> RunAsync(ServerOptions serverOptions, AgentOptions agentOptions, bool writeClientConfig, CancellationToken cancellationToken)
    {
        var started = await ServerCommand.StartAsync(serverOptions, "dev", cancellationToken).ConfigureAwait(false);
        if (started.App is null)
        {
            return started.ExitCode;
        }

        await using var server = started.App;
        var adminTokenPath = Path.Combine(serverOptions.DataDir, "admin.token");
        if (!File.Exists(adminTokenPath))
        {
            await Console.Error.WriteLineAsync($"gantry dev: {Path.GetFullPath(adminTokenPath)} is missing, so the CLI cannot be configured; delete {Path.GetFullPath(serverOptions.DataDir)} to start over").ConfigureAwait(false);
            return 1;
        }

        var adminToken = (await File.ReadAllTextAsync(adminTokenPath, cancellationToken).ConfigureAwait(false)).Trim();
        agentOptions.Server = new Uri(started.Url);
        agentOptions.JoinToken = serverOptions.JoinToken;
        agentOptions.StateDir = Path.GetFullPath(Path.Combine(serverOptions.DataDir, "agent"));
        agentOptions.NodeName ??= Environment.MachineName;
        if (agentOptions.Validate() is { } agentProblem)
        {
            await Console.Error.WriteLineAsync($"gantry dev: --{agentProblem.Setting}: {agentProblem.Message}").ConfigureAwait(false);
            return GantryCli.UsageError;
        }

        await using var agent = AgentHost.Build(agentOptions, configureLogging: ServerCommand.ConsoleLogging);
        try
        {
            await agent.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            await Console.Error.WriteLineAsync($"gantry dev: the agent cannot listen on {agentOptions.Listen}: {ex.Message} (choose another with --agent-listen)").ConfigureAwait(false);
            return 1;
        }

        string? clientConfig = null;
        if (writeClientConfig)
        {
            clientConfig = ClientConfig.DefaultPath;
            await ClientConfig.WriteAsync(clientConfig, started.Url, adminToken, cancellationToken).ConfigureAwait(false);
        }

        var loginCode = server.Services.GetRequiredService<LoginLinks>().Create();
        await Console.Out.WriteLineAsync(Banner(started.Url, loginCode, agentOptions, serverOptions, clientConfig)).ConfigureAwait(false);
        var stopping = Task.WhenAny(server.WaitForShutdownAsync(cancellationToken), agent.WaitForShutdownAsync(cancellationToken));
        await stopping.ConfigureAwait(false);
        await agent.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await server.StopAsync(CancellationToken.None).ConfigureAwait(false);
        return 0;
    }

    private static string Banner(string url, string loginCode, AgentOptions agent, ServerOptions server, string? clientConfig)
    {
        var gantry = CommandName();
        var gpus = agent.SimulateGpus > 0 ? $" ({agent.SimulateGpus} simulated GPUs)" : "";
        var lines = new List<string>
        {
            "",
            "Gantry dev is running: a server and an agent for this machine.",
            $"  Dashboard:    {url}/login?once={loginCode}",
            "                (a one-time login link; later, log in with the admin token)",
            $"  API:          {url}/api/v1",
            $"  Agent:        http://{agent.Listen}/metrics{gpus}",
            $"  Data:         {Path.GetFullPath(server.DataDir)}",
            $"  Admin token:  {Path.GetFullPath(Path.Combine(server.DataDir, "admin.token"))}",
        };
        lines.Add(clientConfig is null
            ? $"The CLI needs --server {url} and --token (or GANTRY_SERVER and GANTRY_TOKEN)."
            : $"The CLI is configured ({clientConfig}). Try:");
        lines.Add($"  {gantry} nodes ls");
        lines.Add($"  {gantry} jobs submit --wait -- echo hello");
        lines.Add($"  {gantry} jobs ls");
        lines.Add("Press Ctrl+C to stop.");
        return string.Join(Environment.NewLine, lines);
    }

    /// <summary>"gantry" when the running binary is the one on PATH, else its full path.</summary>
    private static string CommandName()
    {
        var path = Environment.ProcessPath;
        if (path is null)
        {
            return "gantry";
        }

        var onPath = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Any(dir => dir.Length > 0 && string.Equals(Path.GetFullPath(Path.Combine(dir, Path.GetFileName(path))), path, StringComparison.Ordinal));
        return onPath ? Path.GetFileName(path) : path;
    }
}
