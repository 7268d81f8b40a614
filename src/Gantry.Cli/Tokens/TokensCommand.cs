using System.CommandLine;
using System.Globalization;
using Gantry.Cli.Http;
using Gantry.Cli.Jobs;
using Gantry.Cli.Output;
using Gantry.Core.Protocol;
using Gantry.Core.Text;

namespace Gantry.Cli.Tokens;

/// <summary><c>gantry tokens create|ls|revoke</c>: people's API tokens (an admin's token is needed).</summary>
internal static class TokensCommand
{
    /// <summary>What <c>gantry --help</c> and <c>gantry tokens --help</c> say it does.</summary>
    internal const string Description = "Make, list and revoke people's API tokens, each with a role (admin only).";

    public static Command Create(CliContext context)
    {
        var options = new ClientOptions();
        var tokens = new Command("tokens", Description);
        options.AddTo(tokens);
        tokens.Subcommands.Add(CreateCreate(context, options));
        tokens.Subcommands.Add(CreateList(context, options));
        tokens.Subcommands.Add(CreateRevoke(context, options));
        return tokens;
    }

    /// <summary>The flags of <c>gantry tokens create</c>, exposed so tests can read the request they build.</summary>
    internal sealed class CreateFlags
    {
        public Option<string> Name { get; } = new("--name") { Description = "The person's name: a-z, 0-9, '.', '_' and '-' (unique among tokens in use).", HelpName = "NAME", Required = true };

        public Option<string> Role { get; } = new("--role") { Description = "What the token may do: admin, operator, user or viewer.", HelpName = "ROLE", Required = true };

        public Option<string> UnixUser { get; } = new("--unix-user") { Description = "The Unix user the person's jobs run as on an agent running as root.", HelpName = "USER" };

        public Option<bool> AllowRoot { get; } = new("--allow-root") { Description = "The person's jobs may run as root (never without it)." };

        public Option<string> Expires { get; } = new("--expires") { Description = "The token stops working after this long (90d, 12h). (default: never)", HelpName = "DURATION" };

        public Option<string> MaxGpus { get; } = new("--max-gpus") { Description = "The most GPUs the person's jobs may hold at once. (default: no limit)", HelpName = "N" };

        public Option<string> MaxPending { get; } = new("--max-pending") { Description = "The most jobs the person may have waiting. (default: no limit)", HelpName = "N" };

        public void AddTo(Command command)
        {
            command.Options.Add(Name);
            command.Options.Add(Role);
            command.Options.Add(UnixUser);
            command.Options.Add(AllowRoot);
            command.Options.Add(Expires);
            command.Options.Add(MaxGpus);
            command.Options.Add(MaxPending);
        }

        /// <summary>The request; a bad value throws <see cref="UsageException"/> naming the flag.</summary>
        public CreateTokenRequest Build(ParseResult parseResult)
        {
            ArgumentNullException.ThrowIfNull(parseResult);
            var roleText = parseResult.GetValue(Role);
            if (!Roles.TryParse(roleText, out var role))
            {
                throw new UsageException("--role", $"expected admin, operator, user or viewer, got '{roleText}'");
            }

            double? expiresIn = null;
            if (parseResult.GetValue(Expires) is { } expiresText)
            {
                if (!Durations.TryParse(expiresText, out var expires) || expires <= TimeSpan.Zero)
                {
                    throw new UsageException("--expires", $"expected a duration such as 90d or 12h, got '{expiresText}'");
                }

                expiresIn = expires.TotalSeconds;
            }

            return new CreateTokenRequest
            {
                Name = parseResult.GetValue(Name) ?? "",
                Role = role,
                UnixUser = parseResult.GetValue(UnixUser),
                AllowRoot = parseResult.GetValue(AllowRoot),
                ExpiresInSeconds = expiresIn,
                MaxGpus = SubmitOptions.ParseInt(parseResult.GetValue(MaxGpus), "--max-gpus", min: 0, max: 1_000_000),
                MaxPending = SubmitOptions.ParseInt(parseResult.GetValue(MaxPending), "--max-pending", min: 0, max: 100_000_000),
            };
        }
    }

    internal static Command CreateCreate(CliContext context, ClientOptions options, CreateFlags? createFlags = null)
    {
        var flags = createFlags ?? new CreateFlags();
        var command = new Command("create", """
            Make a token for a person and print it: the secret is shown this once (the server keeps only
            its hash). Give it to the person, who passes it as --token or GANTRY_TOKEN.
              gantry tokens create --name alice --role user --unix-user alice --expires 90d
            A name in use by a valid token is refused: revoke it first. Roles: viewer reads; user also
            submits jobs and cancels its own; operator also drains and cordons nodes, manages alert rules
            and silences and cancels anyone's jobs; admin everything, tokens included.
            """);
        flags.AddTo(command);
        command.SetAction((parseResult, cancellationToken) => ClientInvocation.RunAsync(context, parseResult, options, "gantry tokens create", async (invocation, ct) =>
        {
            var request = flags.Build(parseResult);
            var body = await invocation.Api.PostAsync("api/v1/tokens", request, GantryJson.Default.CreateTokenRequest, ct).ConfigureAwait(false);
            if (invocation.Format == OutputFormat.Json)
            {
                JsonOutput.Write(context.Output, body);
            }
            else
            {
                var created = Paging.Deserialize(body, ResponseJson.For<CreateTokenResponse>());
                await context.Output.WriteAsync(created.Token + "\n").ConfigureAwait(false);
                await context.Error.WriteAsync($"gantry: made a {created.Info.Role.Name()} token for {created.Info.Name}{Expiry(created.Info)}; it is shown only now\n").ConfigureAwait(false);
            }

            return ExitCodes.Success;
        }, cancellationToken));
        return command;
    }

    private static Command CreateList(CliContext context, ClientOptions options)
    {
        var command = new Command("ls", """
            List people's tokens (never their secrets), the admin token from the server's data dir first.
            STATUS is active, expired or revoked; UNIX-USER is who their jobs run as on a root agent (+root
            when they may run as root); MAX-GPUS and MAX-PENDING are the person's limits.
            """);
        command.Aliases.Add("list");
        command.SetAction((parseResult, cancellationToken) => ClientInvocation.RunAsync(context, parseResult, options, "gantry tokens ls", async (invocation, ct) =>
        {
            var body = await invocation.Api.GetAsync("api/v1/tokens", ct).ConfigureAwait(false);
            if (invocation.Format == OutputFormat.Json)
            {
                JsonOutput.Write(context.Output, body);
            }
            else
            {
                WriteTable(context.Output, Paging.Deserialize(body, ResponseJson.For<TokensResponse>()).Items, invocation.Now, context.TableWidth);
            }

            return ExitCodes.Success;
        }, cancellationToken));
        return command;
    }

    private static Command CreateRevoke(CliContext context, ClientOptions options)
    {
        var name = new Argument<string>("NAME") { Description = "The person whose token to revoke (the NAME column of 'gantry tokens ls')." };
        var command = new Command("revoke", "Revoke a person's token: the server refuses it from now on (401). Their jobs keep running.") { name };
        command.SetAction((parseResult, cancellationToken) => ClientInvocation.RunAsync(context, parseResult, options, "gantry tokens revoke", async (invocation, ct) =>
        {
            var person = parseResult.GetValue(name) ?? "";
            if (person.Length == 0)
            {
                throw new UsageException("NAME", "expected a person's name");
            }

            var body = await invocation.Api.DeleteAsync("api/v1/tokens/" + Uri.EscapeDataString(person), ct).ConfigureAwait(false);
            if (invocation.Format == OutputFormat.Json)
            {
                JsonOutput.Write(context.Output, body);
            }
            else
            {
                await context.Output.WriteAsync($"token of {Paging.Deserialize(body, ResponseJson.For<TokenInfo>()).Name} revoked\n").ConfigureAwait(false);
            }

            return ExitCodes.Success;
        }, cancellationToken));
        return command;
    }

    /// <summary>The <c>tokens ls</c> table.</summary>
    internal static void WriteTable(TextWriter output, IReadOnlyList<TokenInfo> tokens, DateTimeOffset now, int width)
    {
        var table = new Table(
            new Column("NAME", MaxWidth: 32, MinWidth: 8),
            new Column("ROLE", MaxWidth: 8),
            new Column("STATUS", MaxWidth: 8),
            new Column("UNIX-USER", MaxWidth: 40, MinWidth: 9),
            new Column("MAX-GPUS", AlignRight: true),
            new Column("MAX-PENDING", AlignRight: true),
            new Column("EXPIRES", MaxWidth: 40, Flexible: true));
        foreach (var token in tokens)
        {
            table.AddRow(
                token.Name,
                token.Role.Name(),
                token.Status,
                (token.UnixUser ?? "-") + (token.AllowRoot ? " +root" : ""),
                token.MaxGpus is { } gpus ? Formats.Number(gpus) : "-",
                token.MaxPending is { } pending ? Formats.Number(pending) : "-",
                token.RevokedAt is { } revoked ? "revoked " + Formats.Instant(revoked, now) : token.Builtin ? "never (admin.token)" : token.ExpiresAt is { } expires ? Formats.Instant(expires, now) : "never");
        }

        table.Write(output, width);
    }

    private static string Expiry(TokenInfo info) =>
        info.ExpiresAt is { } at ? ", valid until " + at.UtcDateTime.ToString("yyyy-MM-dd HH:mm'Z'", CultureInfo.InvariantCulture) : "";
}
