using System.CommandLine;

namespace Gantry.Cli.Tests;

public sealed class HelpTests
{
    private static IEnumerable<Command> AllCommands(Command command)
    {
        yield return command;
        foreach (var sub in command.Subcommands)
        {
            foreach (var nested in AllCommands(sub))
            {
                yield return nested;
            }
        }
    }

    [Fact]
    public void Entries_NameAndDescription_AreTheBuiltCommands()
    {
        foreach (var entry in ClientCommands.Entries)
        {
            var command = entry.Create();

            Assert.Equal(entry.Name, command.Name);
            Assert.Equal(entry.Description, command.Description);
        }
    }

    [Fact]
    public void Commands_EveryOptionAndArgument_HasADescription()
    {
        var context = new CliContext(TextWriter.Null, TextWriter.Null, _ => null, TimeProvider.System);
        var commands = ClientCommands.Create(context).SelectMany(AllCommands).ToList();

        Assert.Equal(
            ["nodes", "ls", "show", "drain", "undrain", "cordon", "uncordon", "power-cap", "jobs", "submit", "ls", "show", "logs", "cancel", "services", "run", "ls", "show", "stop", "logs", "top",
             "alerts", "ls", "rules", "ls", "add", "rm", "export", "silence", "add", "ls", "expire",
             "report", "energy", "tokens", "create", "ls", "revoke", "audit", "ls", "fair-share"],
            commands.Select(c => c.Name));
        foreach (var command in commands)
        {
            Assert.False(string.IsNullOrWhiteSpace(command.Description), command.Name);
            foreach (var option in command.Options)
            {
                Assert.False(string.IsNullOrWhiteSpace(option.Description), $"{command.Name} {option.Name}");
            }

            foreach (var argument in command.Arguments)
            {
                Assert.False(string.IsNullOrWhiteSpace(argument.Description), $"{command.Name} {argument.Name}");
            }
        }
    }

    [Fact]
    public async Task ServicesRunHelp_ListsEveryFlag()
    {
        var result = await new CliHarness().RunAsync("services", "run", "--help");

        Assert.Equal(0, result.ExitCode);
        foreach (var flag in new[] { "NAME", "--name", "--image", "--runtime", "--port", "--volume", "--gpus", "--cpus", "--memory", "--selector", "--env", "--restart-attempts", "--restart-interval", "--restart-delay", "--health-http", "--health-tcp", "--health-grace", "--health-interval", "--metrics-path", "--model", "--max-model-len", "--tensor-parallel", "--server", "--token" })
        {
            Assert.Contains(flag, result.Output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task SubmitHelp_ListsEveryFlagAndTheInheritedOnes()
    {
        var result = await new CliHarness().RunAsync("jobs", "submit", "--help");

        Assert.Equal(0, result.ExitCode);
        foreach (var flag in new[] { "--name", "--array", "--gpus", "--gpu-memory", "--gpu-model", "--cpus", "--memory", "--priority", "--selector", "--max-runtime", "--retries", "--env", "--workdir", "--shell", "--wait", "--gpu-power-cap", "--image", "--runtime", "--port", "--volume", "--server", "--token", "--output", "GANTRY_SERVER", "GANTRY_TOKEN" })
        {
            Assert.Contains(flag, result.Output, StringComparison.Ordinal);
        }
    }
}
