using System.CommandLine;
using System.Globalization;
using System.Text;
using Gantry.Cli.Jobs;
using Gantry.Cli.Output;
using Gantry.Core.Protocol;
using Gantry.Core.Text;

namespace Gantry.Cli.Audit;

/// <summary><c>gantry audit ls</c>: the server's audit log of changes.</summary>
internal static class AuditCommand
{
    /// <summary>What <c>gantry --help</c> and <c>gantry audit --help</c> say it does.</summary>
    internal const string Description = "The audit log: every change made through the API, who made it, from where, and how it ended.";

    public static Command Create(CliContext context)
    {
        var options = new ClientOptions();
        var audit = new Command("audit", Description);
        options.AddWithoutOutputTo(audit);
        audit.Subcommands.Add(CreateList(context, options));
        return audit;
    }

    private static Command CreateList(CliContext context, ClientOptions options)
    {
        var since = new Option<string>("--since") { Description = "Only changes made this long ago or later (7d, 24h, 30m), or since a time (2026-01-31T12:00:00Z). (default: all kept)", HelpName = "DURATION|TIME" };
        var actor = new Option<string>("--actor") { Description = "Only changes by this caller: a token's person (admin for the admin token), join-token for nodes' registrations.", HelpName = "NAME" };
        var action = new Option<string>("--action") { Description = "Only this action, e.g. job.submit, job.cancel, node.drain, node.cordon, alert.rule.create, power.cap (docs/audit.md lists them).", HelpName = "ACTION" };
        var limit = new Option<string>("--limit") { Description = "Show at most this many records, newest first. (default: 100)", HelpName = "N" };
        var command = new Command("ls", """
            List audit records, newest first: when (UTC), who (ACTOR, with the token's role), from where
            (ADDRESS), what (ACTION) to what (TARGET: a job id, a node id, a rule group), and how it ended
            (OUTCOME: ok, refused for a 4xx answer that changed nothing, failed for a 5xx; with the status).
              gantry audit ls --since 7d --action job.cancel
              gantry audit ls --actor alice -o json
            JSON: the API's page, {"items": [{id, time, actor, role, address, action, target, status,
            outcome}], "nextCursor"}.
            """) { since, actor, action, limit };
        command.Aliases.Add("list");
        options.AddOutputTo(command);
        command.SetAction((parseResult, cancellationToken) => ClientInvocation.RunAsync(context, parseResult, options, "gantry audit ls", async (invocation, ct) =>
        {
            var filters = Filters(parseResult.GetValue(since), parseResult.GetValue(actor), parseResult.GetValue(action));
            var count = SubmitOptions.ParseInt(parseResult.GetValue(limit), "--limit", min: 1, max: 1_000_000) ?? 100;
            var items = await Paging.ReadAsync<AuditEntry>(invocation, "api/v1/audit", null, count, ct, filters).ConfigureAwait(false);
            if (invocation.Format == OutputFormat.Table)
            {
                WriteTable(context.Output, items, context.TableWidth);
            }

            return ExitCodes.Success;
        }, cancellationToken));
        return command;
    }

    /// <summary>The query's filters (<c>&amp;since=7d&amp;actor=alice</c>), each checked as the server would; a bad one is a usage error that names its flag.</summary>
    internal static string Filters(string? since, string? actor, string? action)
    {
        var query = new StringBuilder();
        if (since is not null)
        {
            var isTime = since.Contains('T', StringComparison.Ordinal) && DateTimeOffset.TryParse(since, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out _);
            if (!isTime && !(Durations.TryParse(since, out var ago) && ago > TimeSpan.Zero))
            {
                throw new UsageException("--since", $"expected a duration such as 7d, 24h or 30m, or a time such as 2026-01-31T12:00:00Z, got '{since}'");
            }

            query.Append("&since=").Append(Uri.EscapeDataString(since));
        }

        if (actor is not null)
        {
            if (actor.Length == 0 || actor.Any(static c => c <= ' ' || c == 0x7F))
            {
                throw new UsageException("--actor", $"expected a name without spaces, got '{actor}'");
            }

            query.Append("&actor=").Append(Uri.EscapeDataString(actor));
        }

        if (action is not null)
        {
            if (action.Length == 0 || !action.All(static c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '.' or '-'))
            {
                throw new UsageException("--action", $"expected an action such as job.cancel or node.drain, got '{action}'");
            }

            query.Append("&action=").Append(action);
        }

        return query.ToString();
    }

    internal static void WriteTable(TextWriter writer, IReadOnlyList<AuditEntry> entries, int width)
    {
        if (entries.Count == 0)
        {
            writer.Write("No audit records.\n");
            return;
        }

        var table = new Table(
            new Column("TIME"),
            new Column("ACTOR", MaxWidth: 24, MinWidth: 6),
            new Column("ADDRESS", MaxWidth: 40, MinWidth: 7),
            new Column("ACTION"),
            new Column("TARGET", MaxWidth: 40, MinWidth: 6, Flexible: true),
            new Column("OUTCOME"));
        foreach (var entry in entries)
        {
            table.AddRow(
                entry.Time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture),
                entry.Role is { } role && role != entry.Actor ? $"{entry.Actor} ({role})" : entry.Actor,
                entry.Address ?? "-",
                entry.Action,
                entry.Target ?? "-",
                entry.Outcome + " " + Formats.Number(entry.Status));
        }

        table.Write(writer, width);
    }
}
