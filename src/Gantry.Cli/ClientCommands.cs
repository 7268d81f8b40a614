using System.CommandLine;
using Gantry.Cli.Jobs;
using Gantry.Cli.Nodes;
using Gantry.Cli.Top;

namespace Gantry.Cli;

/// <summary>
/// The API client commands, <c>gantry nodes …</c> and <c>gantry jobs …</c>, for the root command of
/// the <c>gantry</c> executable. Building them is cheap: nothing is read and no HTTP client is made
/// until one of them runs.
/// </summary>
public static class ClientCommands
{
    /// <summary>
    /// The <c>nodes</c> and <c>jobs</c> commands, writing to the console. Their actions return 0 on
    /// success, 1 when the server refused or could not be reached (or a waited-for job failed) and 2
    /// for a bad flag value or client config.
    /// </summary>
    public static IReadOnlyList<Command> Create() => Create(CliContext.FromProcess());

    internal static IReadOnlyList<Command> Create(CliContext context) => [NodesCommand.Create(context), JobsCommand.Create(context), TopCommand.Create(context)];
}
