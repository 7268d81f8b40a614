using System.CommandLine;

namespace Gantry.Commands;

/// <summary>The <c>gantry</c> command line: one executable, one subcommand per role.</summary>
internal static class GantryCli
{
    /// <summary>Exit code for bad input: an unknown flag, a bad value, a bad config file.</summary>
    public const int UsageError = 2;

    public static async Task<int> RunAsync(string[] args)
    {
        var root = new RootCommand(
            "Gantry runs GPU machines as one fleet. 'gantry dev' starts a control plane and an agent for this " +
            "machine in one process; 'gantry server' is the control plane, 'gantry agent' the node daemon that " +
            "measures the host and GPUs and runs jobs; 'gantry nodes' and 'gantry jobs' talk to the server's API.");
        root.Subcommands.Add(AgentCommand.Create());
        root.Subcommands.Add(ServerCommand.Create());
        root.Subcommands.Add(DevCommand.Create());
        foreach (var client in Gantry.Cli.ClientCommands.Create())
        {
            root.Subcommands.Add(client);
        }

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
}
