using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Gantry.Cli.Carbon;

namespace Gantry.Cli.Tests.Carbon;

/// <summary><c>gantry carbon simulate</c> on real trace files in a temporary folder, run in-process as the root command runs it.</summary>
public sealed class CarbonCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gantry-carbon-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Simulate_NightlyJson_HasTheDocumentedKeysAndTheTroughSaving()
    {
        var trace = WriteTrace("trough.csv", days: 380);

        var result = await RunAsync("carbon", "simulate", "--trace", trace, "--scenario", "nightly", "-o", "json");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("", result.Error);
        using var json = JsonDocument.Parse(result.Output);
        var root = json.RootElement;
        Assert.Equal("nightly", root.GetProperty("scenario").GetString());
        Assert.Equal(365, root.GetProperty("jobs").GetInt32());
        Assert.Equal(365 * 400 * 0.5, root.GetProperty("baselineGrams").GetDouble());
        Assert.Equal(365 * 100 * 0.5, root.GetProperty("deferredGrams").GetDouble());
        Assert.Equal(75, root.GetProperty("savingsPercent").GetDouble());
        Assert.Equal(0, root.GetProperty("deadlineMisses").GetInt32());
        Assert.Equal(0, root.GetProperty("forecastError").GetDouble());
    }

    [Fact]
    public async Task Simulate_MlWithForecastError_MissesNoDeadlineAndKeepsMostOfTheSaving()
    {
        var trace = WriteTrace("trough.csv", days: 380);

        var perfect = await RunAsync("carbon", "simulate", "--trace", trace, "--scenario", "ml", "-o", "json", "--seed", "3");
        var noisy = await RunAsync("carbon", "simulate", "--trace", trace, "--scenario", "ml", "-o", "json", "--seed", "3", "--forecast-error", "0.1");

        Assert.Equal(0, perfect.ExitCode);
        Assert.Equal(0, noisy.ExitCode);
        using var p = JsonDocument.Parse(perfect.Output);
        using var n = JsonDocument.Parse(noisy.Output);
        Assert.Equal(p.RootElement.GetProperty("jobs").GetInt32(), n.RootElement.GetProperty("jobs").GetInt32());
        Assert.Equal(0, p.RootElement.GetProperty("deadlineMisses").GetInt32());
        Assert.Equal(0, n.RootElement.GetProperty("deadlineMisses").GetInt32());
        Assert.InRange(p.RootElement.GetProperty("savingsPercent").GetDouble(), 50, 100);
        var best = p.RootElement.GetProperty("savingsPercent").GetDouble();
        Assert.InRange(n.RootElement.GetProperty("savingsPercent").GetDouble(), best * 2 / 3, best + 0.5);
    }

    [Fact]
    public async Task Simulate_Table_SaysSavingsAndMisses()
    {
        var trace = WriteTrace("trough.csv", days: 380);

        var result = await RunAsync("carbon", "simulate", "--trace", trace, "--scenario", "nightly");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("savings          75.00 %", result.Output, StringComparison.Ordinal);
        Assert.Contains("deadline misses  0", result.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--scenario", "weekly", "--scenario: 'weekly' is not a scenario")]
    [InlineData("--forecast-error", "-0.1", "--forecast-error: '-0.1' is not a relative error")]
    [InlineData("--forecast-error", "ten", "--forecast-error: 'ten' is not a relative error")]
    [InlineData("--seed", "x", "--seed: 'x' is not a whole number")]
    [InlineData("-o", "yaml", "--output: 'yaml' is not a format")]
    public async Task Simulate_BadOption_ExitCode2NamesIt(string option, string value, string message)
    {
        var trace = WriteTrace("short.csv", days: 2);
        var args = new List<string> { "carbon", "simulate", "--trace", trace, "--scenario", "nightly" };
        var at = args.IndexOf(option);
        if (at >= 0)
        {
            args[at + 1] = value;
        }
        else
        {
            args.AddRange([option, value]);
        }

        var result = await RunAsync([.. args]);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_ShortOrMissingTrace_ExitCode2()
    {
        var shortTrace = WriteTrace("short.csv", days: 30);

        var tooShort = await RunAsync("carbon", "simulate", "--trace", shortTrace, "--scenario", "nightly");
        var missing = await RunAsync("carbon", "simulate", "--trace", Path.Combine(_dir, "none.csv"), "--scenario", "nightly");

        Assert.Equal(2, tooShort.ExitCode);
        Assert.Contains("a simulation needs a year", tooShort.Error, StringComparison.Ordinal);
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("--trace: cannot read", missing.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_EveryOptionHasADescription()
    {
        var carbon = CarbonCommand.Create(new CliContext(TextWriter.Null, TextWriter.Null, _ => null, TimeProvider.System));
        var simulate = Assert.Single(carbon.Subcommands);

        Assert.Equal("simulate", simulate.Name);
        Assert.Equal(["--trace", "--scenario", "--forecast-error", "--seed", "--output"], simulate.Options.Select(o => o.Name));
        Assert.All(simulate.Options, o => Assert.False(string.IsNullOrWhiteSpace(o.Description), o.Name));
    }

    /// <summary>Half-hourly rows from 2020-01-01: 400 g/kWh, but 100 from 04:00 to 05:00 each day.</summary>
    private string WriteTrace(string name, int days)
    {
        var path = Path.Combine(_dir, name);
        using var writer = new StreamWriter(path) { NewLine = "\n" };
        writer.WriteLine("Time,Carbon Intensity");
        var start = new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        for (var t = start; t < start.AddDays(days); t = t.AddMinutes(30))
        {
            writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{t:yyyy-MM-dd HH:mm:ss},{(t.Hour == 4 ? 100 : 400)}"));
        }

        return path;
    }

    private static async Task<CliResult> RunAsync(params string[] args)
    {
        var output = new StringWriter { NewLine = "\n" };
        var error = new StringWriter { NewLine = "\n" };
        var root = new RootCommand("test") { CarbonCommand.Create(new CliContext(output, error, _ => null, TimeProvider.System)) };
        var parseResult = root.Parse(args);
        if (parseResult.Errors.Count > 0)
        {
            return new CliResult(2, output.ToString(), string.Join("\n", parseResult.Errors.Select(e => e.Message)));
        }

        var code = await parseResult.InvokeAsync(new InvocationConfiguration { Output = output, Error = error });
        return new CliResult(code, output.ToString(), error.ToString());
    }
}
