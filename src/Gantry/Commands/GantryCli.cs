using System.CommandLine;
using Gantry.Cli;
using Gantry.Cli.Anomalies;

namespace Gantry.Commands;

/// <summary>The <c>gantry</c> command line: one executable, one subcommand per role.</summary>
internal static class GantryCli
{
    /// <summary>Exit code for bad input: an unknown flag, a bad value, a bad config file.</summary>
    public const int UsageError = 2;

    /// <summary>Every top-level command, in the order <c>gantry --help</c> lists them.</summary>
    public static IReadOnlyList<CommandEntry> Commands { get; } =
    [
        new("agent", AgentCommand.Description, AgentCommand.Create),
        new("server", ServerCommand.Description, ServerCommand.Create),
        new("dev", DevCommand.Description, DevCommand.Create),
        .. ClientCommands.Entries,
        new("anomaly", AnomalyCommand.Description, AnomalyCommand.Create),

        // Carbon-aware deferral (docs/carbon.md).
        new("carbon", Gantry.Cli.Carbon.CarbonCommand.Description, Gantry.Cli.Carbon.CarbonCommand.Create),

        // Running as a systemd service (docs/deploy.md).
        new("install", InstallCommand.Description, InstallCommand.Create),
        new("uninstall", InstallCommand.UninstallDescription, InstallCommand.CreateUninstall),
    ];

    public static async Task<int> RunAsync(string[] args)
    {
        var root = BuildRoot(args);
        var parseResult = root.Parse(args);
        if (parseResult.Errors.Count > 0 && parseResult.Action is not System.CommandLine.Help.HelpAction)
        {
            foreach (var error in parseResult.Errors)
            {
                await Console.Error.WriteLineAsync("gantry: " + error.Message).ConfigureAwait(false);
            }

            var command = parseResult.CommandResult.Command;
            var path = command == root ? "gantry" : "gantry " + command.Name;
            await Console.Error.WriteLineAsync($"Run '{path} --help' for usage.").ConfigureAwait(false);
            return UsageError;
        }

        return await parseResult.InvokeAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// The root command for these arguments. Only the command being run is built with its options; the
    /// others stand in with their name and description, which is all <c>gantry --help</c> shows of
    /// them. Building every option of every command cost each CLI call several milliseconds
    /// (docs/benchmarks.md, "Gantry CLI start-up"). When the first word is no command and no option
    /// (a typo, a response file), everything is built, so errors and suggestions are the full ones.
    /// </summary>
    internal static RootCommand BuildRoot(string[] args)
    {
        var root = new RootCommand(
            "Gantry runs GPU machines as one fleet. 'gantry dev' starts a control plane and an agent for this " +
            "machine in one process; 'gantry server' is the control plane, 'gantry agent' the node daemon that " +
            "measures the host and GPUs and runs jobs; 'gantry nodes', 'gantry jobs' and 'gantry alerts' talk to the server's API.");
        var first = args.Length > 0 ? args[0] : "--help";
        var selected = Commands.FirstOrDefault(c => c.Name == first);
        var buildAll = selected is null && !first.StartsWith('-');
        foreach (var entry in Commands)
        {
            root.Subcommands.Add(buildAll || entry == selected ? entry.Create() : new Command(entry.Name, entry.Description));
        }

        return root;
    }
}
