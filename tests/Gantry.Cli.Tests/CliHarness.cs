using System.CommandLine;
using Gantry.Testing;

namespace Gantry.Cli.Tests;

/// <summary>
/// Runs the client commands in-process the way the <c>gantry</c> root command does (parse errors are
/// exit code 2), with captured output, a dictionary for the environment and a fake clock.
/// </summary>
internal sealed class CliHarness
{
    public static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    public Dictionary<string, string> Environment { get; } = new()
    {
        // Never read the developer's own config file: the default location is a folder that does not exist.
        ["XDG_CONFIG_HOME"] = Path.Combine(Path.GetTempPath(), "gantry-cli-tests-no-such-dir"),
    };

    public TimeProvider Clock { get; init; } = new FakeTimeProvider(Now);

    public int TableWidth { get; init; } = 80;

    /// <summary>Captures stdout; a test may pass one that signals when text arrives.</summary>
    public StringWriter Output { get; init; } = new() { NewLine = "\n" };

    /// <summary>What a command reads for <c>-</c> (stdin); empty unless a test gives it.</summary>
    public TextReader? Input { get; init; }

    public async Task<CliResult> RunAsync(params string[] args)
    {
        var output = Output;
        var error = new StringWriter { NewLine = "\n" };
        var context = new CliContext(output, error, name => Environment.GetValueOrDefault(name), Clock, TableWidth, Input);
        var root = new RootCommand("test");
        foreach (var command in ClientCommands.Create(context))
        {
            root.Subcommands.Add(command);
        }

        var parseResult = root.Parse(args);
        if (parseResult.Errors.Count > 0)
        {
            return new CliResult(2, output.ToString(), string.Join("\n", parseResult.Errors.Select(e => e.Message)));
        }

        var code = await parseResult.InvokeAsync(new InvocationConfiguration { Output = output, Error = error }).ConfigureAwait(false);
        return new CliResult(code, output.ToString(), error.ToString());
    }
}

internal sealed record CliResult(int ExitCode, string Output, string Error);
