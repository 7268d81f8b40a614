using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Server.Audit;
using Gantry.Server.Api;
using Gantry.Server.Auth;
using Gantry.Server.Configuration;
using Gantry.Server.Dashboard.Auth;
using Gantry.Server.Dashboard.Live;
using Gantry.Server.Dashboard.Pages;
using Gantry.Server.Dashboard.Services;
using Gantry.Server.Dashboard.Views;
using Gantry.Server.Jobs;
using Gantry.Server.Nodes;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.DependencyInjection;

namespace Gantry.Server.Dashboard;

/// <summary>
/// The web dashboard at <c>/</c>: pages rendered on the server from Razor components, a login with the
/// person's token (its role decides the pages and forms) that leaves a cookie, POST forms for submit, cancel, drain and silences (with anti-forgery
/// tokens; each redirects back when it worked), and the SSE stream their live parts follow (<see cref="DashboardLive"/>).
/// </summary>
internal static class DashboardEndpoints
{
    /// <summary>The session cookie's name.</summary>
    public const string CookieName = "gantry_session";

    /// <summary>How long a login lasts without use (each visit renews it).</summary>
    public static readonly TimeSpan SessionLifetime = TimeSpan.FromHours(12);

    /// <summary>Audit records per page of <c>/audit</c>.</summary>
    public const int AuditPageSize = 100;

    /// <summary>The output a job page shows at most at first (more streams in while it runs).</summary>
    public const int MaxInitialLogChars = 1 << 20;

    /// <summary>Registers what the dashboard needs: Razor rendering, cookie login, anti-forgery, data-protection keys in the data dir.</summary>
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "The trimmed gantry build roots the Razor component assemblies and Gantry.Server (TrimmerRootAssembly in src/Gantry/Gantry.csproj).")]
    public static void AddDashboard(this IServiceCollection services, ServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        services.AddRazorComponents();
        services.AddAntiforgery(antiforgery =>
        {
            antiforgery.Cookie.Name = "gantry_antiforgery";
            antiforgery.FormFieldName = "_csrf";
        });
        // Cookies and anti-forgery tokens are signed with keys kept beside the database, so a restart
        // does not log everybody out. They are as secret as admin.token next to them.
        services.AddDataProtection()
            .SetApplicationName("gantry")
            .PersistKeysToFileSystem(new DirectoryInfo(Path.Combine(options.DataDir, "keys")));
        services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme)
            .AddCookie(cookie =>
            {
                cookie.Cookie.Name = CookieName;
                cookie.Cookie.HttpOnly = true;
                cookie.Cookie.SameSite = SameSiteMode.Strict;
                cookie.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                cookie.LoginPath = "/login";
                cookie.LogoutPath = "/logout";
                cookie.ReturnUrlParameter = "returnUrl";
                cookie.ExpireTimeSpan = SessionLifetime;
                cookie.SlidingExpiration = true;
                // A session lasts only while the token it was opened with is valid: revoked or expired, it ends.
                cookie.Events.OnValidatePrincipal = static context =>
                {
                    var user = context.Principal;
                    var tokens = context.HttpContext.RequestServices.GetRequiredService<TokenStore>();
                    if (user?.Identity?.Name is not { } name || user.FindFirst(Authorization.TokenClaim)?.Value is not { } prefix
                        || tokens.Current(name, prefix) is not { } person || Authorization.RoleOf(user) != person.Role)
                    {
                        context.RejectPrincipal();
                    }

                    return Task.CompletedTask;
                };
                // A role too low for a page or a form: 403, not a redirect to a page that does not exist.
                cookie.Events.OnRedirectToAccessDenied = static context =>
                {
                    context.Response.StatusCode = StatusCodes.Status403Forbidden;
                    return Task.CompletedTask;
                };
            });
        services.AddAuthorization(authorization =>
        {
            foreach (var role in Enum.GetValues<Role>())
            {
                authorization.AddPolicy(role.Name(), policy => policy.RequireAuthenticatedUser()
                    .RequireAssertion(context => Authorization.RoleOf(context.User) is { } has && has >= role));
            }
        });
        services.AddSingleton<LoginLinks>();
        services.AddSingleton<DashboardData>();
        services.AddSingleton<AlertsData>();
        services.AddSingleton<ServicesData>(); // services (docs/service-health.md)
    }

    /// <summary>Maps the pages, the forms, the assets and the live stream.</summary>
    public static void MapDashboard(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapDashboardAssets();
        app.MapDashboardLive();
        MapTokensPage(app);
        app.MapServicePages(); // /services and /services/{id} (docs/service-health.md)

        app.MapGet("/login", async (HttpContext http, LoginLinks links, IAntiforgery antiforgery) =>
        {
            var once = http.Request.Query["once"].ToString();
            var returnUrl = LocalUrl(http.Request.Query["returnUrl"]);
            if (once.Length > 0)
            {
                if (links.Redeem(once) && http.RequestServices.GetRequiredService<TokenStore>().AdminPrefix is { } adminPrefix)
                {
                    await SignInAsync(http, Person.Admin, adminPrefix).ConfigureAwait(false);
                    return Results.Redirect(returnUrl);
                }

                return Login(http, antiforgery, StatusCodes.Status401Unauthorized, "This login link was already used or has expired. Log in with your token instead.", returnUrl);
            }

            return http.User.Identity?.IsAuthenticated == true ? Results.Redirect(returnUrl) : Login(http, antiforgery, StatusCodes.Status200OK, null, returnUrl);
        });

        app.MapPost("/login", async (HttpContext http, TokenStore tokens, TokenFailureLimiter limiter, IAntiforgery antiforgery) =>
        {
            var form = await ReadFormAsync(http, antiforgery).ConfigureAwait(false);
            if (form is null)
            {
                return Login(http, antiforgery, StatusCodes.Status400BadRequest, "The form had expired. Try again.", "/");
            }

            var returnUrl = LocalUrl(form["returnUrl"]);
            var token = form["token"].ToString().Trim();
            if (token.Length == 0)
            {
                return Login(http, antiforgery, StatusCodes.Status400BadRequest, "Enter your API token.", returnUrl);
            }

            var hash = Tokens.Hash(token);
            var (check, person) = tokens.Authenticate(hash);
            switch (check)
            {
                case TokenCheck.Expired:
                    return Login(http, antiforgery, StatusCodes.Status401Unauthorized, $"the token of {person!.Name} has expired: ask an admin for a new one", returnUrl);
                case TokenCheck.Revoked:
                    return Login(http, antiforgery, StatusCodes.Status401Unauthorized, $"the token of {person!.Name} was revoked: ask an admin for a new one", returnUrl);
                case TokenCheck.Unknown:
                    // A valid token is checked first: the limit never keeps out the admin.
                    if (http.Connection.RemoteIpAddress is { } address)
                    {
                        if (limiter.IsLimited(address, out var retryAfter))
                        {
                            var seconds = Math.Max(1, (long)Math.Ceiling(retryAfter.TotalSeconds));
                            http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
                            return Login(http, antiforgery, StatusCodes.Status429TooManyRequests, $"Too many failed logins came from this address; try again in {seconds} s.", returnUrl);
                        }

                        limiter.Failed(address);
                    }

                    return Login(http, antiforgery, StatusCodes.Status401Unauthorized, "the token is not valid: the dashboard takes a person's API token ('gantry tokens create') or the admin token (<data-dir>/admin.token)", returnUrl);
            }

            await SignInAsync(http, person!, TokenStore.Prefix(hash)).ConfigureAwait(false);
            return Results.Redirect(returnUrl);
        }).DisableAntiforgery().NotAudited("a login changes nothing (failed ones are counted by the failed-token limiter)");

        app.MapPost("/logout", async (HttpContext http) =>
        {
            await http.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme).ConfigureAwait(false);
            return Results.Redirect("/login");
        }).DisableAntiforgery().NotAudited("a logout changes nothing");

        app.MapGet("/", (HttpContext http, DashboardData data, IAntiforgery antiforgery) =>
            Page<OverviewPage>(http, StatusCodes.Status200OK, new()
            {
                ["Frame"] = Frame(http, antiforgery, "Overview", Section.Overview, "/ui/events?view=overview"),
                ["Stats"] = data.Overview(),
                ["Active"] = data.ActiveJobs(DashboardLive.ActiveJobsShown),
            })).RequireDashboardRole(Role.Viewer);

        app.MapGet("/nodes", (HttpContext http, DashboardData data, IAntiforgery antiforgery) =>
            Page<NodesPage>(http, StatusCodes.Status200OK, new()
            {
                ["Frame"] = Frame(http, antiforgery, "Nodes", Section.Nodes, "/ui/events?view=nodes"),
                ["Nodes"] = data.Nodes(),
            })).RequireDashboardRole(Role.Viewer);

        app.MapGet("/nodes/{nodeId}", (string nodeId, HttpContext http, DashboardData data, IAntiforgery antiforgery) =>
        {
            if (data.Node(nodeId) is not { } node)
            {
                return NotFound(http, antiforgery, Section.Nodes, $"No node with id {nodeId} is known to this server.", "/nodes", "All nodes");
            }

            if (!ChartRange.TryParse(http.Request.Query["range"], out var range, out var rangeError))
            {
                return Message(http, antiforgery, StatusCodes.Status400BadRequest, Section.Nodes, "Unknown range",
                    $"range {rangeError}.", $"/nodes/{Uri.EscapeDataString(nodeId)}", "Back to the node");
            }

            return Page<NodePage>(http, StatusCodes.Status200OK, new()
            {
                ["Frame"] = Frame(http, antiforgery, node.Name, Section.Nodes, $"/ui/events?view=node&id={Uri.EscapeDataString(node.Id)}&range={range.Name}"),
                ["Node"] = node,
                ["Charts"] = data.Charts(node, range),
                ["Health"] = data.HealthHistory(node.Id),
                ["Anomalies"] = data.Anomalies(node.Id),
            });
        }).RequireDashboardRole(Role.Viewer);

        app.MapPost("/nodes/{nodeId}/drain", (string nodeId, HttpContext http, NodeRegistry nodes, IAntiforgery antiforgery) => DrainAsync(http, nodes, antiforgery, nodeId, drain: true))
            .RequireDashboardRole(Role.Operator).DisableAntiforgery().Audited("node.drain", target: "nodeId");
        app.MapPost("/nodes/{nodeId}/undrain", (string nodeId, HttpContext http, NodeRegistry nodes, IAntiforgery antiforgery) => DrainAsync(http, nodes, antiforgery, nodeId, drain: false))
            .RequireDashboardRole(Role.Operator).DisableAntiforgery().Audited("node.undrain", target: "nodeId");

        app.MapGet("/jobs", (HttpContext http, DashboardData data, IAntiforgery antiforgery) =>
        {
            if (!Query.TryEnum<JobState>(http.Request, "state", out var state, out _))
            {
                return Message(http, antiforgery, StatusCodes.Status400BadRequest, Section.Jobs, "Unknown state",
                    $"state must be one of {string.Join(", ", Enum.GetValues<JobState>().Select(static s => s.Name()))}; got '{http.Request.Query["state"]}'.", "/jobs", "All jobs");
            }

            if (!Query.TryLong(http.Request, "before", out var before, out _))
            {
                return Message(http, antiforgery, StatusCodes.Status400BadRequest, Section.Jobs, "Bad page",
                    $"before must be a job id; got '{http.Request.Query["before"]}'.", "/jobs", "All jobs");
            }

            return JobsPage(http, data, antiforgery, StatusCodes.Status200OK, new JobForm(), state, before);
        }).RequireDashboardRole(Role.Viewer);

        app.MapPost("/jobs", async (HttpContext http, JobQueue queue, DashboardData data, IAntiforgery antiforgery, TimeProvider time) =>
        {
            var form = await ReadFormAsync(http, antiforgery).ConfigureAwait(false);
            if (form is null)
            {
                return JobsPage(http, data, antiforgery, StatusCodes.Status400BadRequest, new JobForm { Error = "The form had expired (reload the page and submit again)." }, null, null);
            }

            var typed = new JobForm
            {
                Command = form["command"].ToString(),
                Name = form["name"].ToString(),
                Gpus = Or(form["gpus"].ToString(), "0"),
                Priority = Or(form["priority"].ToString(), "50"),
                MaxRuntime = form["maxRuntime"].ToString(),
                Retries = Or(form["retries"].ToString(), "0"),
                Deadline = form["deadline"].ToString(),
                ExpectedRuntime = form["expectedRuntime"].ToString(),
                Image = form["image"].ToString(),
                Runtime = Or(form["runtime"].ToString(), "podman"),
            };
            if (JobSubmit.Parse(typed) is { } refused)
            {
                return JobsPage(http, data, antiforgery, StatusCodes.Status400BadRequest, refused, null, null);
            }

            var now = time.GetUtcNow();
            var submission = JobSubmit.ToSubmission(typed, now);
            if ((Validation.Check(submission) ?? Carbon.DeadlineValidation.Check(submission, now)) is { } errors)
            {
                return JobsPage(http, data, antiforgery, StatusCodes.Status400BadRequest, JobSubmit.Refused(typed, errors), null, null);
            }

            if (SignedInPerson(http) is not { } person)
            {
                return Results.Redirect("/login");
            }

            var (first, count) = queue.Submit(submission, new JobOwner(person.Name, person.UnixUser, person.AllowRoot));
            http.AuditTarget(JobEndpoints.JobTarget(first, count));
            return Results.Redirect($"/jobs/{first}");
        }).RequireDashboardRole(Role.User).DisableAntiforgery().Audited("job.submit");

        app.MapGet("/jobs/{jobId}", (string jobId, HttpContext http, DashboardData data, IAntiforgery antiforgery) =>
        {
            if (!long.TryParse(jobId, NumberStyles.None, CultureInfo.InvariantCulture, out var id) || data.Job(id) is not { } job)
            {
                return NotFound(http, antiforgery, Section.Jobs, $"No job with id {jobId}.", "/jobs", "All jobs");
            }

            var (logs, after, truncated) = data.InitialLogs(job.Id, MaxInitialLogChars);
            return Page<JobPage>(http, StatusCodes.Status200OK, new()
            {
                ["Frame"] = Frame(http, antiforgery, $"Job {job.Id}", Section.Jobs, $"/ui/events?view=job&id={job.Id}"),
                ["Job"] = job,
                ["NodeName"] = data.NodeName(job.NodeId),
                ["Now"] = data.Now,
                ["Logs"] = logs,
                ["LogsAfter"] = after,
                ["LogsTruncated"] = truncated,
            });
        }).RequireDashboardRole(Role.Viewer);

        app.MapGet("/audit", async (HttpContext http, AuditLog log, IAntiforgery antiforgery, CancellationToken ct) =>
        {
            if (AuditEndpoints.TryFilters(http.Request.Query, log.Now, out var filters) is { } problem)
            {
                return Message(http, antiforgery, StatusCodes.Status400BadRequest, Section.Audit, "Bad filter", $"{problem.Parameter} {problem.Message}.", "/audit", "The whole log");
            }

            if (!Query.TryLong(http.Request, "before", out var before, out _))
            {
                return Message(http, antiforgery, StatusCodes.Status400BadRequest, Section.Audit, "Bad page", $"before must be a record id; got '{http.Request.Query["before"]}'.", "/audit", "The whole log");
            }

            var entries = await log.ReadAsync(filters! with { Before = before, Limit = AuditPageSize }, ct).ConfigureAwait(false);
            return Page<AuditPage>(http, StatusCodes.Status200OK, new()
            {
                ["Frame"] = Frame(http, antiforgery, "Audit", Section.Audit, null),
                ["Entries"] = entries,
                ["Since"] = http.Request.Query["since"].ToString(),
                ["Actor"] = http.Request.Query["actor"].ToString(),
                ["Action"] = http.Request.Query["action"].ToString(),
                ["Next"] = entries.Count == AuditPageSize ? entries[^1].Id : null,
            });
        }).RequireDashboardRole(Role.Operator);

        app.MapGet("/alerts", (HttpContext http, AlertsData alerts, IAntiforgery antiforgery) =>
            AlertsPage(http, alerts, antiforgery, StatusCodes.Status200OK, new SilenceForm { Matchers = http.Request.Query["matchers"].ToString() }))
            .RequireDashboardRole(Role.Viewer);

        app.MapPost("/alerts/silences", async (HttpContext http, AlertsData alerts, IAntiforgery antiforgery) =>
        {
            var form = await ReadFormAsync(http, antiforgery).ConfigureAwait(false);
            if (form is null)
            {
                return AlertsPage(http, alerts, antiforgery, StatusCodes.Status400BadRequest, new SilenceForm { Error = "The form had expired (reload the page and add the silence again)." });
            }

            var typed = new SilenceForm
            {
                Matchers = form["matchers"].ToString(),
                Duration = form["duration"].ToString(),
                Comment = form["comment"].ToString(),
            };
            var (silence, refused) = alerts.Create(typed, author: http.User.Identity?.Name ?? "dashboard"); // the signed-in person
            if (silence is null)
            {
                return AlertsPage(http, alerts, antiforgery, StatusCodes.Status400BadRequest, refused);
            }

            http.AuditTarget(silence.Id);
            return Results.Redirect("/alerts");
        }).RequireDashboardRole(Role.Operator).DisableAntiforgery().Audited("alert.silence.create");

        app.MapPost("/alerts/silences/{silenceId}/expire", async (string silenceId, HttpContext http, AlertsData alerts, IAntiforgery antiforgery) =>
        {
            if (await ReadFormAsync(http, antiforgery).ConfigureAwait(false) is null)
            {
                return Message(http, antiforgery, StatusCodes.Status400BadRequest, Section.Alerts, "Not expired", "The form had expired; reload the page and try again.", "/alerts", "Back to the alerts");
            }

            return alerts.Expire(silenceId) is null
                ? NotFound(http, antiforgery, Section.Alerts, $"No silence with id {silenceId}.", "/alerts", "Back to the alerts")
                : Results.Redirect("/alerts");
        }).RequireDashboardRole(Role.Operator).DisableAntiforgery().Audited("alert.silence.expire", target: "silenceId");

        app.MapPost("/jobs/{jobId:long}/cancel", async (long jobId, HttpContext http, JobQueue queue, IAntiforgery antiforgery) =>
        {
            if (await ReadFormAsync(http, antiforgery).ConfigureAwait(false) is null)
            {
                return Message(http, antiforgery, StatusCodes.Status400BadRequest, Section.Jobs, "Not cancelled", "The form had expired; reload the page and try again.", $"/jobs/{jobId}", "Back to the job");
            }

            if (SignedInPerson(http) is not { } person)
            {
                return Results.Redirect("/login");
            }

            if (JobEndpoints.MayCancel(person, jobId, queue) is { } refused)
            {
                return refused is IStatusCodeHttpResult { StatusCode: StatusCodes.Status404NotFound }
                    ? NotFound(http, antiforgery, Section.Jobs, $"No job with id {jobId}.", "/jobs", "All jobs")
                    : Message(http, antiforgery, StatusCodes.Status403Forbidden, Section.Jobs, "Not cancelled", $"Job {jobId} belongs to another person: cancelling it needs the operator role.", $"/jobs/{jobId}", "Back to the job");
            }

            return queue.Cancel(jobId, out _) is null
                ? NotFound(http, antiforgery, Section.Jobs, $"No job with id {jobId}.", "/jobs", "All jobs")
                : Results.Redirect($"/jobs/{jobId}");
        }).RequireDashboardRole(Role.User).DisableAntiforgery().Audited("job.cancel", target: "jobId");
    }

    /// <summary>The Tokens page (admins): list, make (the secret shown once, on the answer to the form), revoke.</summary>
    private static void MapTokensPage(WebApplication app)
    {
        app.MapGet("/tokens", (HttpContext http, TokenStore tokens, TimeProvider time, IAntiforgery antiforgery) =>
            TokensPage(http, tokens, time, antiforgery, StatusCodes.Status200OK, new TokenForm(), null)).RequireDashboardRole(Role.Admin);

        app.MapPost("/tokens", async (HttpContext http, TokenStore tokens, TimeProvider time, IAntiforgery antiforgery) =>
        {
            var form = await ReadFormAsync(http, antiforgery).ConfigureAwait(false);
            if (form is null)
            {
                return TokensPage(http, tokens, time, antiforgery, StatusCodes.Status400BadRequest, new TokenForm { Error = "The form had expired (reload the page and try again)." }, null);
            }

            var typed = new TokenForm
            {
                Name = form["name"].ToString(),
                Role = form["role"].ToString(),
                UnixUser = form["unixUser"].ToString(),
                AllowRoot = form["allowRoot"].ToString() == "true",
                Expires = form["expires"].ToString(),
                MaxGpus = form["maxGpus"].ToString(),
                MaxPending = form["maxPending"].ToString(),
            };
            var (request, refused) = typed.Parse();
            if (refused is not null)
            {
                return TokensPage(http, tokens, time, antiforgery, StatusCodes.Status400BadRequest, refused, null);
            }

            if (TokenValidation.Check(request!) is { } errors)
            {
                var (field, messages) = errors.First();
                return TokensPage(http, tokens, time, antiforgery, StatusCodes.Status400BadRequest, typed with { Error = $"{field}: {messages[0]}", ErrorField = field }, null);
            }

            var (secret, person, conflict) = tokens.Create(request!);
            if (conflict is not null)
            {
                return TokensPage(http, tokens, time, antiforgery, StatusCodes.Status409Conflict, typed with { Error = conflict, ErrorField = "name" }, null);
            }

            // The secret goes out on this answer only: no redirect, nothing to reload.
            return TokensPage(http, tokens, time, antiforgery, StatusCodes.Status200OK, new TokenForm(), new CreateTokenResponse { Token = secret!, Info = person!.ToInfo(time.GetUtcNow()) });
        }).RequireDashboardRole(Role.Admin).DisableAntiforgery().Audited("token.create");

        app.MapPost("/tokens/{name}/revoke", async (string name, HttpContext http, TokenStore tokens, IAntiforgery antiforgery) =>
        {
            if (await ReadFormAsync(http, antiforgery).ConfigureAwait(false) is null)
            {
                return Message(http, antiforgery, StatusCodes.Status400BadRequest, Section.Tokens, "Not revoked", "The form had expired; reload the page and try again.", "/tokens", "Back to the tokens");
            }

            if (name == Person.AdminName)
            {
                return Message(http, antiforgery, StatusCodes.Status409Conflict, Section.Tokens, "Not revoked", "The admin token from <data-dir>/admin.token cannot be revoked.", "/tokens", "Back to the tokens");
            }

            return tokens.Revoke(name) is null
                ? NotFound(http, antiforgery, Section.Tokens, $"No token named {name}.", "/tokens", "Back to the tokens")
                : Results.Redirect("/tokens");
        }).RequireDashboardRole(Role.Admin).DisableAntiforgery().Audited("token.revoke", target: "name");
    }

    private static IResult TokensPage(HttpContext http, TokenStore tokens, TimeProvider time, IAntiforgery antiforgery, int status, TokenForm form, CreateTokenResponse? created)
    {
        var frame = Frame(http, antiforgery, "Tokens", Section.Tokens, null);
        if (created is not null)
        {
            // The secret is on this page: never keep it in a cache or history.
            http.Response.Headers.Pragma = "no-cache";
        }

        return Page<TokensPage>(http, status, new()
        {
            ["Frame"] = frame,
            ["Tokens"] = TokenEndpoints.List(tokens, time).Items,
            ["Form"] = form,
            ["Created"] = created,
        });
    }

    /// <summary>
    /// Sets the security headers of a dashboard page: no framing, no inline scripts, forms post only
    /// here, nothing sniffed.
    /// </summary>
    public static void SecureHeaders(HttpResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        response.Headers.ContentSecurityPolicy = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";
        response.Headers.XFrameOptions = "DENY";
        response.Headers["Referrer-Policy"] = "same-origin";
        response.Headers["X-Content-Type-Options"] = "nosniff";
        response.Headers.CacheControl = "no-store";
    }

    private static async Task<IResult> DrainAsync(HttpContext http, NodeRegistry nodes, IAntiforgery antiforgery, string nodeId, bool drain)
    {
        if (await ReadFormAsync(http, antiforgery).ConfigureAwait(false) is null)
        {
            return Message(http, antiforgery, StatusCodes.Status400BadRequest, Section.Nodes, "Nothing changed", "The form had expired; reload the page and try again.", $"/nodes/{Uri.EscapeDataString(nodeId)}", "Back to the node");
        }

        return nodes.Drain(nodeId, drain) is null
            ? NotFound(http, antiforgery, Section.Nodes, $"No node with id {nodeId} is known to this server.", "/nodes", "All nodes")
            : Results.Redirect($"/nodes/{Uri.EscapeDataString(nodeId)}");
    }

    private static IResult JobsPage(HttpContext http, DashboardData data, IAntiforgery antiforgery, int status, JobForm form, JobState? state, long? before)
    {
        var (rows, next) = data.Jobs(state, before);
        var live = before is null ? "/ui/events?view=jobs" + (state is { } s ? "&state=" + s.Name() : "") : null;
        return Page<JobsPage>(http, status, new()
        {
            ["Frame"] = Frame(http, antiforgery, "Jobs", Section.Jobs, live),
            ["Form"] = form,
            ["Rows"] = rows,
            ["State"] = state,
            ["Before"] = before,
            ["Next"] = next,
        });
    }

    private static IResult AlertsPage(HttpContext http, AlertsData alerts, IAntiforgery antiforgery, int status, SilenceForm form) =>
        Page<AlertsPage>(http, status, new()
        {
            ["Frame"] = Frame(http, antiforgery, "Alerts", Section.Alerts, "/ui/events?view=alerts"),
            ["Model"] = alerts.Read(),
            ["Form"] = form,
        });

    private static IResult Login(HttpContext http, IAntiforgery antiforgery, int status, string? error, string returnUrl) =>
        Page<LoginPage>(http, status, new()
        {
            ["Error"] = error,
            ["ReturnUrl"] = returnUrl,
            ["Csrf"] = CsrfFor(http, antiforgery),
        });

    internal static IResult NotFound(HttpContext http, IAntiforgery antiforgery, Section section, string message, string backUrl, string backText) =>
        Message(http, antiforgery, StatusCodes.Status404NotFound, section, "Not found", message, backUrl, backText);

    private static IResult Message(HttpContext http, IAntiforgery antiforgery, int status, Section section, string heading, string message, string backUrl, string backText) =>
        Page<MessagePage>(http, status, new()
        {
            ["Frame"] = Frame(http, antiforgery, heading, section, null),
            ["Heading"] = heading,
            ["Message"] = message,
            ["BackUrl"] = backUrl,
            ["BackText"] = backText,
        });

    [SuppressMessage("Performance", "CA1859", Justification = "The request delegate generator cannot see the types the Razor compiler makes, so endpoints return IResult.")]
    internal static IResult Page<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] T>(HttpContext http, int status, Dictionary<string, object?> parameters)
        where T : IComponent
    {
        SecureHeaders(http.Response);
        return new RazorComponentResult<T>(parameters) { StatusCode = status, ContentType = "text/html; charset=utf-8" };
    }

    internal static PageFrame Frame(HttpContext http, IAntiforgery antiforgery, string title, Section section, string? liveUrl) =>
        new(title, section, CsrfFor(http, antiforgery), liveUrl, FiringAlerts: http.RequestServices.GetRequiredService<AlertsData>().FiringCount())
        {
            UserName = http.User.Identity?.Name,
            UserRole = RoleOf(http),
        };

    /// <summary>A form token for this request's user (and the cookie it pairs with).</summary>
    public static Csrf CsrfFor(HttpContext http, IAntiforgery antiforgery)
    {
        ArgumentNullException.ThrowIfNull(antiforgery);
        var tokens = antiforgery.GetAndStoreTokens(http);
        return new Csrf(tokens.FormFieldName, tokens.RequestToken!);
    }

    /// <summary>The posted form when its anti-forgery token is valid; null when it is not.</summary>
    private static async Task<IFormCollection?> ReadFormAsync(HttpContext http, IAntiforgery antiforgery)
    {
        if (!http.Request.HasFormContentType)
        {
            return null;
        }

        var form = await http.Request.ReadFormAsync(http.RequestAborted).ConfigureAwait(false);
        return await antiforgery.IsRequestValidAsync(http).ConfigureAwait(false) ? form : null;
    }

    private static Task SignInAsync(HttpContext http, Person person, string tokenPrefix) =>
        http.SignInAsync(
            CookieAuthenticationDefaults.AuthenticationScheme,
            Authorization.Caller(person, CookieAuthenticationDefaults.AuthenticationScheme, tokenPrefix),
            new AuthenticationProperties { IsPersistent = true });

    /// <summary>
    /// A dashboard route for <paramref name="minimum"/> and above (a session's role, from the token it was
    /// opened with); the metadata names the role for the route table test.
    /// </summary>
    internal static TBuilder RequireDashboardRole<TBuilder>(this TBuilder builder, Role minimum) where TBuilder : IEndpointConventionBuilder =>
        builder.RequireAuthorization(minimum.Name()).WithMetadata(new RoleRequirement(minimum));

    /// <summary>The signed-in person (from the token the session was opened with); null when the session no longer holds.</summary>
    internal static Person? SignedInPerson(HttpContext http) =>
        http.User.Identity?.Name is { } name && http.User.FindFirst(Authorization.TokenClaim)?.Value is { } prefix
            ? http.RequestServices.GetRequiredService<TokenStore>().Current(name, prefix)
            : null;

    /// <summary>The signed-in person's role; null when nobody is.</summary>
    internal static Role? RoleOf(HttpContext http) => Authorization.RoleOf(http.User);

    /// <summary>The form token when the signed-in person's role is <paramref name="minimum"/> or above: forms for what it may not do are left out.</summary>
    internal static Csrf? CsrfIf(HttpContext http, Csrf? csrf, Role minimum) => RoleOf(http) is { } role && role >= minimum ? csrf : null;

    /// <summary>The cancel form's token for a job: operators cancel any job, users their own.</summary>
    internal static Csrf? CancelCsrf(HttpContext http, Csrf? csrf, JobInfo job) =>
        RoleOf(http) is { } role && (role >= Role.Operator || (role >= Role.User && job.Owner == http.User.Identity?.Name)) ? csrf : null;

    /// <summary>A return address that stays on this server ("/nodes"); anything else becomes "/".</summary>
    private static string LocalUrl(string? url) =>
        url is { Length: > 0 } u && u[0] == '/' && (u.Length == 1 || (u[1] != '/' && u[1] != '\\')) ? u : "/";

    private static string Or(string value, string fallback) => value.Length == 0 ? fallback : value;
}
