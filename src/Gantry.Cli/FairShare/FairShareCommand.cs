using System.CommandLine;
using System.Globalization;
using Gantry.Cli.Http;
using Gantry.Cli.Output;
using Gantry.Core.Protocol;
using Gantry.Core.Text;

namespace Gantry.Cli.FairShare;

/// <summary><c>gantry fair-share</c>: accounts' recent GPU use, the GPUs they hold and their limits (docs/fair-share.md).</summary>
internal static class FairShareCommand
{
    /// <summary>What <c>gantry --help</c> and <c>gantry fair-share --help</c> say it does.</summary>
    internal const string Description = "Each person's recent GPU use (decayed GPU-hours), GPUs held, pending jobs and limits: the fair share.";

    public static Command Create(CliContext context)
    {
        var options = new ClientOptions();
        // The details (columns, JSON keys) are in docs/fair-share.md: a top-level command's description is its one line in gantry --help.
        var command = new Command("fair-share", Description);
        options.AddTo(command);
        command.SetAction((parseResult, cancellationToken) => ClientInvocation.RunAsync(context, parseResult, options, "gantry fair-share", async (invocation, ct) =>
        {
            var body = await invocation.Api.GetAsync("api/v1/fair-share", ct).ConfigureAwait(false);
            if (invocation.Format == OutputFormat.Json)
            {
                JsonOutput.Write(context.Output, body);
            }
            else
            {
                WriteTable(context.Output, Paging.Deserialize(body, ResponseJson.For<FairShareInfo>()), context.TableWidth);
            }

            return ExitCodes.Success;
        }, cancellationToken));
        return command;
    }

    internal static void WriteTable(TextWriter writer, FairShareInfo info, int width)
    {
        writer.Write(info.HalfLifeSeconds is { } halfLife && info.Enabled
            ? $"Fair share on: half-life {Durations.Format(TimeSpan.FromSeconds(halfLife))}\n"
            : "Fair share off: submission order within a priority\n");
        if (info.Accounts.Count == 0)
        {
            writer.Write("No account has used GPUs or has pending jobs.\n");
            return;
        }

        var table = new Table(
            new Column("ACCOUNT", MaxWidth: 32, MinWidth: 8),
            new Column("USED GPU-H", AlignRight: true),
            new Column("GPUS", AlignRight: true),
            new Column("PENDING", AlignRight: true),
            new Column("MAX GPUS", AlignRight: true),
            new Column("MAX PENDING", AlignRight: true));
        foreach (var account in info.Accounts)
        {
            table.AddRow(
                account.Account.Length == 0 ? "(default)" : account.Account,
                account.UsageGpuHours.ToString("0.0", CultureInfo.InvariantCulture),
                account.RunningGpus.ToString(CultureInfo.InvariantCulture),
                Formats.Number(account.PendingJobs),
                account.MaxGpus?.ToString(CultureInfo.InvariantCulture) ?? "-",
                account.MaxPending?.ToString(CultureInfo.InvariantCulture) ?? "-");
        }

        table.Write(writer, width);
    }
}
