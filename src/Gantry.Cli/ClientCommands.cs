using System.CommandLine;
using Gantry.Cli.Alerts;
using Gantry.Cli.Audit;
using Gantry.Cli.FairShare;
using Gantry.Cli.Jobs;
using Gantry.Cli.Nodes;
using Gantry.Cli.Reports;
using Gantry.Cli.Services;
using Gantry.Cli.Tokens;
using Gantry.Cli.Top;

namespace Gantry.Cli;

/// <summary>One top-level command of <c>gantry</c>: its name and description, and how to build it.</summary>
/// <param name="Name">The word that selects it (<c>jobs</c>).</param>
/// <param name="Description">What <c>gantry --help</c> says of it; the built command says the same.</param>
/// <param name="Create">Builds the command with all its options and subcommands.</param>
public sealed record CommandEntry(string Name, string Description, Func<Command> Create);

/// <summary>
/// The API client commands, <c>gantry nodes …</c>, <c>gantry jobs …</c>, <c>gantry top</c> and <c>gantry alerts …</c>, for the
/// root command of the <c>gantry</c> executable. Nothing is read and no HTTP client is made until one
/// of them runs.
/// </summary>
public static class ClientCommands
{
    /// <summary>
    /// The client commands, writing to the console, built only when asked for. Their actions return 0
    /// on success, 1 when the server refused or could not be reached (or a waited-for job failed) and
    /// 2 for a bad flag value or client config.
    /// </summary>
    public static IReadOnlyList<CommandEntry> Entries { get; } =
    [
        new("nodes", NodesCommand.Description, () => NodesCommand.Create(CliContext.FromProcess())),
        new("jobs", JobsCommand.Description, () => JobsCommand.Create(CliContext.FromProcess())),
        new("services", ServicesCommand.Description, () => ServicesCommand.Create(CliContext.FromProcess())), // docs/services.md
        new("top", TopCommand.Description, () => TopCommand.Create(CliContext.FromProcess())),
        new("alerts", AlertsCommand.Description, () => AlertsCommand.Create(CliContext.FromProcess())),
        new("report", ReportCommand.Description, () => ReportCommand.Create(CliContext.FromProcess())), // Job energy.
        new("tokens", TokensCommand.Description, () => TokensCommand.Create(CliContext.FromProcess())), // People's API tokens.
        new("audit", AuditCommand.Description, () => AuditCommand.Create(CliContext.FromProcess())),
        new("fair-share", FairShareCommand.Description, () => FairShareCommand.Create(CliContext.FromProcess())), // docs/fair-share.md
    ];

    internal static IReadOnlyList<Command> Create(CliContext context) => [NodesCommand.Create(context), JobsCommand.Create(context), ServicesCommand.Create(context), TopCommand.Create(context), AlertsCommand.Create(context), ReportCommand.Create(context), TokensCommand.Create(context), AuditCommand.Create(context), FairShareCommand.Create(context)];
}
