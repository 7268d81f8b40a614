using System.CommandLine;
using System.Net;
using System.Text.Json;
using Gantry.Cli.Http;
using Gantry.Cli.Output;
using Gantry.Core.Protocol;

namespace Gantry.Cli.Alerts;

/// <summary><c>gantry alerts silence add|ls|expire</c>.</summary>
internal static class SilenceCommand
{
    public static Command Create(CliContext context, ClientOptions options)
    {
        var silence = new Command("silence", """
            Silences hold alerts back from delivery (Alertmanager, webhooks) for a while: an alert that
            every matcher of an active silence matches is still evaluated and listed, marked silenced.
            """);
        silence.Subcommands.Add(CreateAdd(context, options));
        silence.Subcommands.Add(CreateList(context, options));
        silence.Subcommands.Add(CreateExpire(context, options));
        return silence;
    }

    private static Command CreateAdd(CliContext context, ClientOptions options)
    {
        var matchers = new Argument<string[]>("MATCHER")
        {
            Description = "name=value, name!=value, name=~regex or name!~regex, matched against the alert's labels (alertname, node, gpu, severity, …); a first MATCHER without an operator is the alert's name. Quote a value holding spaces or shell characters.",
            Arity = ArgumentArity.OneOrMore,
        };
        var flags = new SilenceFlags();
        var command = new Command("add", """
            Silence the alerts whose labels match every MATCHER (as amtool's), from now (or --start) for
            --duration or until --until. Prints the new silence's id ('gantry alerts silence expire ID'
            ends it early).
              gantry alerts silence add alertname=GantryGpuHot node=~"gpu-0[1-4]" --duration 2h --comment "fan swap"
              gantry alerts silence add GantryNodeDown node=gpu-07 --until 2026-03-02T08:00Z --comment "rack work"
            A bad matcher or time, given here or refused by the server, exits with code 2.
            """) { matchers };
        flags.AddTo(command);
        options.AddOutputTo(command);
        command.SetAction((parseResult, cancellationToken) => ClientInvocation.RunAsync(context, parseResult, options, "gantry alerts silence add", async (invocation, ct) =>
        {
            var request = flags.Build(parseResult, parseResult.GetValue(matchers) ?? [], invocation.Now, context.GetEnvironmentVariable);
            byte[] body;
            try
            {
                body = await invocation.Api.PostAsync("api/v1/alerts/silences", request, GantryJson.Default.CreateSilenceRequest, ct).ConfigureAwait(false);
            }
            catch (ApiProblemException ex) when (ex.Status == HttpStatusCode.BadRequest)
            {
                await context.Error.WriteAsync(Errors.Render(ex, invocation.Settings)).ConfigureAwait(false);
                return ExitCodes.Usage;
            }

            if (invocation.Format == OutputFormat.Json)
            {
                JsonOutput.Write(context.Output, body);
            }
            else
            {
                await context.Output.WriteAsync(Paging.Deserialize(body, ResponseJson.For<SilenceInfo>()).Id + "\n").ConfigureAwait(false);
            }

            return ExitCodes.Success;
        }, cancellationToken));
        return command;
    }

    private static Command CreateList(CliContext context, ClientOptions options)
    {
        var all = new Option<bool>("--all", "-a") { Description = "Expired silences too (the server keeps them a day)." };
        var command = new Command("ls", """
            List the silences that are active or pending (starting later), newest first. STARTS and ENDS
            are relative to now; MATCHERS are ANDed.
            """) { all };
        command.Aliases.Add("list");
        options.AddOutputTo(command);
        command.SetAction((parseResult, cancellationToken) => ClientInvocation.RunAsync(context, parseResult, options, "gantry alerts silence ls", async (invocation, ct) =>
        {
            var withExpired = parseResult.GetValue(all);
            var body = await invocation.Api.GetAsync("api/v1/alerts/silences", ct).ConfigureAwait(false);
            if (invocation.Format == OutputFormat.Json)
            {
                WriteJson(context.Output, body, withExpired);
            }
            else
            {
                var silences = Paging.Deserialize(body, ResponseJson.For<SilencesResponse>()).Silences;
                AlertViews.WriteSilences(context.Output, withExpired ? silences : [.. silences.Where(static s => s.Status != Expired)], invocation.Now, context.TableWidth, withExpired);
            }

            return ExitCodes.Success;
        }, cancellationToken));
        return command;
    }

    private static Command CreateExpire(CliContext context, ClientOptions options)
    {
        var ids = new Argument<string[]>("ID")
        {
            Description = "The silence's id (printed by 'silence add'; the ID column of 'gantry alerts silence ls'); several may be given.",
            Arity = ArgumentArity.OneOrMore,
        };
        var command = new Command("expire", """
            End silences now: the alerts they held back are delivered again at the next evaluation. An
            expired silence stays listed by 'gantry alerts silence ls --all' for a day. Exit code 1 when
            any id is unknown (the others are still expired).
            """) { ids };
        options.AddOutputTo(command);
        command.SetAction((parseResult, cancellationToken) => ClientInvocation.RunAsync(context, parseResult, options, "gantry alerts silence expire", async (invocation, ct) =>
        {
            var code = ExitCodes.Success;
            var answers = new List<byte[]>();
            foreach (var id in parseResult.GetValue(ids) ?? [])
            {
                try
                {
                    var body = await invocation.Api.DeleteAsync("api/v1/alerts/silences/" + Uri.EscapeDataString(id), ct).ConfigureAwait(false);
                    answers.Add(body);
                    if (invocation.Format == OutputFormat.Table)
                    {
                        await context.Output.WriteAsync($"silence {Paging.Deserialize(body, ResponseJson.For<SilenceInfo>()).Id} expired\n").ConfigureAwait(false);
                    }
                }
                catch (ApiProblemException ex) when (ex.Status == HttpStatusCode.NotFound)
                {
                    await context.Error.WriteAsync(Errors.Render(ex, invocation.Settings)).ConfigureAwait(false);
                    code = ExitCodes.Failure;
                }
            }

            if (invocation.Format == OutputFormat.Json)
            {
                WriteJsonAnswers(context.Output, answers);
            }

            return code;
        }, cancellationToken));
        return command;
    }

    private const string Expired = "expired";

    /// <summary><c>{"silences": […]}</c> as the server sent it, expired ones left out unless <paramref name="withExpired"/>.</summary>
    private static void WriteJson(TextWriter output, byte[] body, bool withExpired)
    {
        if (withExpired)
        {
            JsonOutput.Write(output, body);
            return;
        }

        using var document = JsonDocument.Parse(body);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (property.Name != "silences" || property.Value.ValueKind != JsonValueKind.Array)
                {
                    property.WriteTo(json);
                    continue;
                }

                json.WriteStartArray(property.Name);
                foreach (var silence in property.Value.EnumerateArray())
                {
                    if (!(silence.TryGetProperty("status", out var status) && status.ValueEquals(Expired)))
                    {
                        silence.WriteTo(json);
                    }
                }

                json.WriteEndArray();
            }

            json.WriteEndObject();
        }

        JsonOutput.Write(output, buffer.WrittenMemory);
    }

    /// <summary>One silence's JSON as the server answered; an array of them for several ids.</summary>
    private static void WriteJsonAnswers(TextWriter output, List<byte[]> answers)
    {
        if (answers.Count == 1)
        {
            JsonOutput.Write(output, answers[0]);
            return;
        }

        if (answers.Count == 0)
        {
            return;
        }

        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            foreach (var answer in answers)
            {
                using var document = JsonDocument.Parse(answer);
                document.RootElement.WriteTo(json);
            }

            json.WriteEndArray();
        }

        JsonOutput.Write(output, buffer.WrittenMemory);
    }
}
