using System.CommandLine;
using System.Globalization;
using System.Text;
using Gantry.Cli.Http;
using Gantry.Cli.Jobs;
using Gantry.Cli.Output;
using Gantry.Core.Protocol;

namespace Gantry.Cli.Reports;

/// <summary><c>gantry report energy</c>.</summary>
internal static class ReportCommand
{
    /// <summary>What <c>gantry --help</c> and <c>gantry report --help</c> say it does.</summary>
    internal const string Description = "Reports over the fleet's history: energy, CO2e and GPU hours per node, label or job name.";

    public static Command Create(CliContext context)
    {
        // -o is the energy report's own: it also takes csv.
        var options = new ClientOptions();
        var report = new Command("report", Description);
        options.AddWithoutOutputTo(report);
        report.Subcommands.Add(CreateEnergy(context, options));
        return report;
    }

    private static Command CreateEnergy(CliContext context, ClientOptions options)
    {
        var since = new Option<string>("--since") { Description = "The period: attempts that ended this long ago or later, or still run, e.g. 7d, 24h, 30m. (default: 7d)", HelpName = "DURATION" };
        var by = new Option<string>("--by") { Description = "Group by node, by job name, or by a node label's value (label:KEY, e.g. label:zone). (default: node)", HelpName = "node|name|label:KEY" };
        var output = new Option<string>("--output", "-o") { Description = "table (for people), json (the API's JSON, indented) or csv (a header line, then one line per group and a total). (default: table)", HelpName = "table|json|csv" };
        var command = new Command("energy", """
            Energy, CO2e, GPU hours and jobs per group over a period, most energy first, then the total.
            ENERGY is GPU plus CPU energy (a ~ marks a sum that holds estimates: power integrated where a GPU
            has no energy counter, and every CPU share); CO2E counts the intervals whose carbon intensity the
            server knew (- with no carbon source). Each attempt counts whole in the period it ends in.
              gantry report energy --since 30d --by label:team -o csv > energy.csv
            """) { since, by, output };
        command.SetAction((parseResult, cancellationToken) => ClientInvocation.RunAsync(context, parseResult, options, "gantry report energy", async (invocation, ct) =>
        {
            var sinceText = parseResult.GetValue(since) ?? "7d";
            if (!EnergyReportQuery.TryParseSince(sinceText, out _, out var error))
            {
                throw new UsageException("--since", error!);
            }

            var byText = parseResult.GetValue(by) ?? "node";
            if (!EnergyReportQuery.TryParseBy(byText, out var group, out var labelKey, out error))
            {
                throw new UsageException("--by", error!);
            }

            var format = parseResult.GetValue(output) switch
            {
                null or "table" => "table",
                "json" => "json",
                "csv" => "csv",
                var other => throw new UsageException("--output", $"expected table, json or csv, got '{other}'"),
            };

            var body = await invocation.Api.GetAsync($"api/v1/reports/energy?since={Uri.EscapeDataString(sinceText)}&by={Uri.EscapeDataString(group)}", ct).ConfigureAwait(false);
            if (format == "json")
            {
                JsonOutput.Write(context.Output, body);
                return ExitCodes.Success;
            }

            var report = Paging.Deserialize(body, ResponseJson.For<EnergyReport>());
            if (format == "csv")
            {
                WriteCsv(context.Output, report);
            }
            else
            {
                WriteTable(context.Output, report, labelKey, context.TableWidth);
            }

            return ExitCodes.Success;
        }, cancellationToken));
        return command;
    }

    internal static void WriteTable(TextWriter writer, EnergyReport report, string? labelKey, int width)
    {
        var header = report.By switch
        {
            "node" => "NODE",
            "name" => "NAME",
            _ => (labelKey ?? "LABEL").ToUpperInvariant(),
        };
        writer.Write(string.Create(CultureInfo.InvariantCulture, $"Since {report.Since.UtcDateTime:yyyy-MM-dd HH:mm}Z, by {report.By}\n"));
        if (report.Groups.Count == 0)
        {
            writer.Write("No jobs ran in the period.\n");
            return;
        }

        var table = new Table(
            new Column(header, MaxWidth: 32, MinWidth: 8),
            new Column("ENERGY", AlignRight: true),
            new Column("GPU", AlignRight: true),
            new Column("CPU", AlignRight: true),
            new Column("CO2E", AlignRight: true),
            new Column("GPU HOURS", AlignRight: true),
            new Column("JOBS", AlignRight: true));
        foreach (var row in report.Groups)
        {
            AddRow(table, row);
        }

        AddRow(table, report.Total with { Group = "total" });
        table.Write(writer, width);
    }

    private static void AddRow(Table table, EnergyReportRow row) => table.AddRow(
        row.Group,
        EnergyText.Energy(row.EnergyJoules, row.Estimated, row.Simulated),
        EnergyText.Energy(row.GpuEnergyJoules),
        EnergyText.Energy(row.CpuEnergyJoules),
        EnergyText.Co2(row.Co2Grams),
        row.GpuHours.ToString("0.##", CultureInfo.InvariantCulture),
        Formats.Number(row.Jobs));

    internal static void WriteCsv(TextWriter writer, EnergyReport report)
    {
        writer.Write("group,energy_joules,gpu_energy_joules,cpu_energy_joules,co2_grams,gpu_hours,jobs,attempts,estimated,simulated\n");
        foreach (var row in report.Groups)
        {
            WriteCsvRow(writer, row);
        }

        WriteCsvRow(writer, report.Total with { Group = "total" });
    }

    private static void WriteCsvRow(TextWriter writer, EnergyReportRow row)
    {
        var line = new StringBuilder();
        line.Append(Csv(row.Group)).Append(',')
            .Append(Number(row.EnergyJoules)).Append(',')
            .Append(Number(row.GpuEnergyJoules)).Append(',')
            .Append(Number(row.CpuEnergyJoules)).Append(',')
            .Append(row.Co2Grams is { } co2 ? Number(co2) : "").Append(',')
            .Append(Number(row.GpuHours)).Append(',')
            .Append(row.Jobs.ToString(CultureInfo.InvariantCulture)).Append(',')
            .Append(row.Attempts.ToString(CultureInfo.InvariantCulture)).Append(',')
            .Append(row.Estimated ? "true" : "false").Append(',')
            .Append(row.Simulated ? "true" : "false").Append('\n');
        writer.Write(line.ToString());
    }

    private static string Number(double value) => value.ToString("0.###", CultureInfo.InvariantCulture);

    /// <summary>RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled.</summary>
    private static string Csv(string field) =>
        field.AsSpan().IndexOfAny(",\"\r\n") < 0 ? field : "\"" + field.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
