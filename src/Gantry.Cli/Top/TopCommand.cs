using System.CommandLine;
using Gantry.Cli.Http;
using Gantry.Cli.Output;
using Spectre.Console;

namespace Gantry.Cli.Top;

/// <summary>
/// <c>gantry top</c>: a live view of the fleet from the server's cluster events (or of one agent with
/// <c>--agent</c>), redrawn on every event; <c>q</c> or Ctrl+C quits. When stdout is not a terminal it
/// prints one snapshot and exits.
/// </summary>
internal static class TopCommand
{
    /// <summary>What <c>gantry --help</c> and <c>gantry top --help</c> say it does.</summary>
    internal const string Description = """
        Live view of the fleet: nodes with their GPUs' utilization, memory, temperature and power,
        then running and pending jobs, redrawn every second. q or Ctrl+C quits. When stdout is not
        a terminal, prints one snapshot (-o json: the snapshot's JSON) and exits.
        """;

    private static readonly TimeSpan ReconnectDelay = TimeSpan.FromSeconds(2);

    public static Command Create(CliContext context)
    {
        var options = new ClientOptions();
        var agent = new Option<string>("--agent")
        {
            Description = "Show one agent's own view (its /status and /events, e.g. http://gpu-01:9450) instead of the server's.",
            HelpName = "URL",
        };
        var top = new Command("top", Description) { agent };
        options.AddTo(top);
        top.SetAction((parseResult, cancellationToken) => ClientInvocation.RunAsync(context, parseResult, options, "gantry top", async (invocation, ct) =>
        {
            using var source = CreateSource(invocation, parseResult.GetValue(agent));
            try
            {
                if (!IsLiveTerminal(context) || invocation.Format == OutputFormat.Json)
                {
                    var (view, json) = await source.SnapshotAsync(ct).ConfigureAwait(false);
                    if (invocation.Format == OutputFormat.Json)
                    {
                        JsonOutput.Write(context.Output, json);
                    }
                    else
                    {
                        await context.Output.WriteAsync(TopRenderer.RenderPlain(view, context.TableWidth, invocation.Now)).ConfigureAwait(false);
                    }

                    return ExitCodes.Success;
                }

                return await RunLiveAsync(invocation, source, ct).ConfigureAwait(false);
            }
            catch (AgentUnreachableException ex)
            {
                await context.Error.WriteAsync($"gantry: cannot reach the agent at {ex.Agent.AbsoluteUri.TrimEnd('/')}: {ex.Message}\n").ConfigureAwait(false);
                return ExitCodes.Failure;
            }
        }, cancellationToken));
        return top;
    }

    private static ITopSource CreateSource(ClientInvocation invocation, string? agent)
    {
        if (agent is null)
        {
            return new ClusterSource(invocation.Api);
        }

        if (!Uri.TryCreate(agent.Contains("://", StringComparison.Ordinal) ? agent : "http://" + agent, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new UsageException("--agent", $"expected an http(s) URL such as http://gpu-01:9450, got '{agent}'");
        }

        // A trailing slash so that "status" and "events" resolve under any path prefix.
        return new AgentSource(new Uri(uri.AbsoluteUri.TrimEnd('/') + "/"));
    }

    /// <summary>The process's own console, attached to a terminal both ways (tests pass writers: never live).</summary>
    private static bool IsLiveTerminal(CliContext context) =>
        ReferenceEquals(context.Output, Console.Out) && !Console.IsOutputRedirected && !Console.IsInputRedirected;

    private static async Task<int> RunLiveAsync(ClientInvocation invocation, ITopSource source, CancellationToken cancellationToken)
    {
        var time = invocation.Context.TimeProvider;
        // Connect before taking the screen: a wrong token or a dead server is reported like any other command's error.
        var stream = await source.ConnectAsync(cancellationToken).ConfigureAwait(false);
        using var quit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        StartKeyReader(quit);
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.Detect,
            ColorSystem = ColorSystemSupport.Detect,
            Interactive = InteractionSupport.Yes,
            Out = new AnsiConsoleOutput(Console.Out),
        });
        var unicode = console.Profile.Capabilities.Unicode;

        // The alternate screen, as htop and less use: on quit the shell's screen comes back as it was.
        console.Write(new ControlCode("\u001b[?1049h\u001b[H"));
        console.Cursor.Hide();
        try
        {
            TopView? last = null;
            await console.Live(new Text("connecting…"))
                .AutoClear(false)
                .Overflow(VerticalOverflow.Ellipsis)
                .Cropping(VerticalOverflowCropping.Bottom)
                .StartAsync(async live =>
                {
                    while (!quit.IsCancellationRequested)
                    {
                        string? problem = null;
                        try
                        {
                            while (await stream.NextAsync(quit.Token).ConfigureAwait(false) is { } e)
                            {
                                if (source.Parse(e.Event, e.Data) is { } view)
                                {
                                    last = view;
                                    live.UpdateTarget(TopRenderer.Render(view, console.Profile.Width, time.GetUtcNow(), unicode));
                                }
                            }

                            problem = "the stream ended";
                        }
                        catch (Exception ex) when (ex is IOException or HttpRequestException && !quit.IsCancellationRequested)
                        {
                            problem = ex.Message;
                        }
                        finally
                        {
                            stream.Dispose();
                        }

                        // Lost the stream: keep the last picture, say so, and connect again.
                        while (!quit.IsCancellationRequested)
                        {
                            if (last is not null)
                            {
                                live.UpdateTarget(TopRenderer.Render(last with { Notice = $"connection lost ({problem}); reconnecting…" }, console.Profile.Width, time.GetUtcNow(), unicode));
                            }

                            await Task.Delay(ReconnectDelay, time, quit.Token).ConfigureAwait(false);
                            try
                            {
                                stream = await source.ConnectAsync(quit.Token).ConfigureAwait(false);
                                break;
                            }
                            catch (Exception ex) when (ex is ServerUnreachableException or AgentUnreachableException)
                            {
                                problem = ex.Message;
                            }
                        }
                    }
                }).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (quit.IsCancellationRequested)
        {
            // q or Ctrl+C.
        }
        finally
        {
            console.Cursor.Show();
            console.Write(new ControlCode("\u001b[?1049l"));
        }

        return ExitCodes.Success;
    }

    /// <summary>A background thread that waits for keys: <c>q</c>, <c>Q</c> or Esc quit.</summary>
    private static void StartKeyReader(CancellationTokenSource quit)
    {
        var thread = new Thread(() =>
        {
            try
            {
                while (!quit.IsCancellationRequested)
                {
                    var key = Console.ReadKey(intercept: true);
                    if (key.Key is ConsoleKey.Q or ConsoleKey.Escape)
                    {
                        quit.Cancel();
                    }
                }
            }
            catch (Exception ex) when (ex is InvalidOperationException or IOException or ObjectDisposedException)
            {
                // No keyboard after all (input closed): Ctrl+C still quits.
            }
        })
        {
            IsBackground = true,
            Name = "gantry top keys",
        };
        thread.Start();
    }
}
