using System.CommandLine;
using System.Net;
using Gantry.Agent;
using Gantry.Agent.Configuration;
using Gantry.Cli.Configuration;
using Gantry.Hosting;
using Gantry.Hosting.Settings;
using Gantry.Server.Auth;
using Gantry.Server.Configuration;
using Gantry.Server.Dashboard.Auth;
using Gantry.Server.Tls;
using Microsoft.AspNetCore.Builder;
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

        Every 'gantry server' setting works here under its own name, and every 'gantry agent' setting
        too: as --agent-listen and --agent-log-level where the server has a setting of that name, as
        it is otherwise (--simulate-gpus, --labels, --interval, ...). The agent joins this server by
        itself, so --server, --join-token-file, --ca-file, --ca-cert-hash and --gc-gen0-size are left out
        (--join-token sets the token both use). Listening beyond loopback, it serves HTTPS with --tls auto
        unless given --tls-cert/--tls-key or --insecure-http. Flags win over GANTRY_* environment variables (GANTRY_AGENT_LISTEN=...),
        which win over the --config file ({"agentListen": "127.0.0.1:9451", "downAfter": "30s"}).
        """;

    /// <summary>The data directory unless told otherwise: beside the user, easy to find and to delete.</summary>
    private const string DefaultDataDir = ".gantry";

    /// <summary>
    /// Agent settings <c>gantry dev</c> does not take: the agent joins this process's server (trusting its CA with
    /// <c>--tls auto</c>), and the GC budget is the process's.
    /// </summary>
    private static readonly HashSet<string> AgentSettingsLeftOut = ["server", "join-token", "join-token-file", "ca-file", "ca-cert-hash", "gc-gen0-size"];

    /// <summary>The agent's settings <c>gantry dev</c> takes.</summary>
    private static readonly Setting<AgentOptions>[] AgentSettingsTaken = [.. AgentSettings.All.Where(s => !AgentSettingsLeftOut.Contains(s.Name))];

    /// <summary>What <c>gantry dev</c> decides itself, besides the server's and the agent's settings.</summary>
    private static readonly Setting<DevOptions>[] DevSettings =
    [
        new("no-client-config", SettingKind.Switch, "", "Do not write the CLI's client config file (server URL and admin token).",
            static (o, v) => o.NoClientConfig = SettingParsers.Bool(v)),
    ];

    /// <summary>An agent setting's name in <c>gantry dev</c>: <c>agent-</c> in front where the server has one of that name.</summary>
    internal static string AgentName(string name) => ServerSettings.All.Any(s => s.Name == name) ? "agent-" + name : name;

    public static Command Create()
    {
        var command = new Command("dev", Description);
        var config = SettingFlags.ConfigOption("{\"agentListen\": \"127.0.0.1:9451\", \"simulateGpus\": 2}");
        command.Options.Add(config);
        var flags = new SettingFlags();
        flags.AddAll(command, DevSettings);
        flags.AddAll(command, ServerSettings.All, describe: static s => s.Name switch
        {
            "data-dir" => $"Server: where the database, the tokens and the agent's state (<data-dir>/agent) live. (default: ./{DefaultDataDir})",
            "log-level" => "Server: " + s.Description + " The agent's too, unless --agent-log-level.",
            _ => "Server: " + s.Description,
        });
        flags.AddAll(command, AgentSettingsTaken, AgentName, static s => s.Name switch
        {
            "state-dir" => "Agent: where the node id and running attempts are kept. (default: <data-dir>/agent)",
            "log-level" => "Agent: trace, debug, info, warning or error. (default: --log-level)",
            "simulate-gpus" => "Agent: give the agent N simulated GPUs (labelled simulated everywhere), for machines without GPUs. (default: 0, the real GPUs through NVML)",
            _ => "Agent: " + s.Description,
        });

        command.SetAction(async (parseResult, cancellationToken) =>
        {
            ServerOptions server;
            AgentOptions agent;
            DevOptions dev;
            try
            {
                (server, agent, dev) = await LoadAsync(flags, parseResult.GetValue(config), flags.Given(parseResult), cancellationToken).ConfigureAwait(false);
            }
            catch (SettingException ex)
            {
                await ex.WriteToAsync(Console.Error, "gantry dev").ConfigureAwait(false);
                return GantryCli.UsageError;
            }

            return await RunAsync(server, agent, !dev.NoClientConfig, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>
    /// The server's, the agent's and dev's own options from one set of sources; every problem of all three
    /// is reported at once, before anything starts or is written.
    /// </summary>
    private static async Task<(ServerOptions Server, AgentOptions Agent, DevOptions Dev)> LoadAsync(SettingFlags flags, string? configFile, IEnumerable<KeyValuePair<string, string>> given, CancellationToken cancellationToken)
    {
        var sources = SettingSources.Load(flags.Accepted, given, configFile);
        var problems = new List<SettingProblem>();
        ServerOptions? server = null;
        try
        {
            server = await SettingsLoader.LoadAsync(
                sources,
                ServerSettings.All,
                ServerSettings.Validator,
                defaults: static o => o.DataDir = DefaultDataDir,
                complete: o =>
                {
                    o.JoinToken ??= Tokens.New("gjoin_");
                    // Beyond loopback the API needs TLS: dev makes its own unless told otherwise.
                    if (o.TlsCert is null && o.TlsKey is null && !o.InsecureHttp && !IPAddress.IsLoopback(o.Listen.Address))
                    {
                        o.TlsAuto = true;
                    }

                    Gantry.Server.Carbon.CarbonSettings.Complete(o, sources); // the carbon secret from GANTRY_CARBON_SECRET
                },
                cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (SettingException ex)
        {
            problems.AddRange(ex.Problems);
        }

        // The agent's settings are checked as they will run: joined to this server, with its token. The
        // real URL (a port 0 resolved) and the state directory's full path come once the server is up.
        var joined = server ?? new ServerOptions { JoinToken = Tokens.New("gjoin_") };
        AgentOptions? agent = null;
        try
        {
            agent = await SettingsLoader.LoadAsync(
                sources,
                AgentSettingsTaken,
                AgentSettings.Validator,
                AgentName,
                defaults: o => o.LogLevel = joined.LogLevel,
                complete: o =>
                {
                    o.Servers = [new Uri("http://" + joined.Listen)];
                    o.JoinToken = joined.JoinToken;
                    o.StateDir ??= Path.GetFullPath(Path.Combine(joined.DataDir, "agent"));
                },
                cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (SettingException ex)
        {
            problems.AddRange(ex.Problems);
        }

        DevOptions? dev = null;
        try
        {
            dev = await SettingsLoader.LoadAsync(sources, DevSettings, validator: null, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (SettingException ex)
        {
            problems.AddRange(ex.Problems);
        }

        return problems.Count > 0 ? throw new SettingException(problems) : (server!, agent!, dev!);
    }

    /// <summary>What only <c>gantry dev</c> can be told.</summary>
    private sealed class DevOptions
    {
        /// <summary>Leave the CLI's client config file alone.</summary>
        public bool NoClientConfig { get; set; }
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
        var url = LocalUrl(started.Url);
        // With --tls auto the agent and the CLI trust the server's own CA; with --tls-cert, what the system trusts.
        var caFile = server.Services.GetService<ServerTls>()?.Auto?.CaPath is { } ca ? Path.GetFullPath(ca) : null;
        agentOptions.Servers = [new Uri(url)];
        agentOptions.CaFile = caFile;
        agentOptions.NodeName ??= Environment.MachineName;
        WebApplication built;
        try
        {
            built = AgentHost.Build(agentOptions, configureLogging: GantryHost.WriteToConsole);
        }
        catch (SettingException ex)
        {
            await ex.WriteToAsync(Console.Error, "gantry dev").ConfigureAwait(false);
            return GantryCli.UsageError;
        }

        await using var agent = built;
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
            await ClientConfig.WriteAsync(clientConfig, url, adminToken, cancellationToken, caFile).ConfigureAwait(false);
        }

        var loginCode = server.Services.GetRequiredService<LoginLinks>().Create();
        await Console.Out.WriteLineAsync(Banner(url, loginCode, agentOptions, serverOptions, clientConfig, caFile)).ConfigureAwait(false);
        var stopping = Task.WhenAny(server.WaitForShutdownAsync(cancellationToken), agent.WaitForShutdownAsync(cancellationToken));
        await stopping.ConfigureAwait(false);
        await agent.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await server.StopAsync(CancellationToken.None).ConfigureAwait(false);
        return 0;
    }

    /// <summary>
    /// The URL this machine's agent and CLI use: every-address binds (0.0.0.0, [::]) are reached on loopback,
    /// which the certificate of <c>--tls auto</c> names.
    /// </summary>
    internal static string LocalUrl(string url) =>
        url.Replace("://0.0.0.0:", "://127.0.0.1:", StringComparison.Ordinal).Replace("://[::]:", "://[::1]:", StringComparison.Ordinal);

    private static string Banner(string url, string loginCode, AgentOptions agent, ServerOptions server, string? clientConfig, string? caFile)
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
        if (caFile is not null)
        {
            lines.Insert(lines.Count - 1, $"  CA:           {caFile} (the CLI's --ca-file; agents elsewhere join with the command logged above)");
        }

        lines.Add(clientConfig is null
            ? $"The CLI needs --server {url}{(caFile is null ? "" : " --ca-file " + caFile)} and --token (or GANTRY_SERVER, GANTRY_CA_FILE and GANTRY_TOKEN)."
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
