using System.CommandLine;
using System.Globalization;
using Gantry.Cli.Anomalies;

namespace Gantry.Cli.Tests.Anomalies;

/// <summary><c>gantry anomaly score</c> on real files in a temporary folder, run in-process as the root command runs it.</summary>
public sealed class AnomalyCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gantry-anomaly-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Score_SpikeInAFlatSeries_WritesEveryRowAndAlarmsOnTheSpike()
    {
        var input = WriteSeries("flat.csv", 600, spikeAt: 500);
        var output = Path.Combine(_dir, "flat.scores.csv");

        var result = await RunAsync("anomaly", "score", "--input", input, "--output", output);

        Assert.Equal(0, result.ExitCode);
        var lines = await File.ReadAllLinesAsync(output);
        Assert.Equal("timestamp,value,anomaly_score", lines[0]);
        Assert.Equal(601, lines.Length);
        var rows = lines.Skip(1).Select(l => l.Split(',')).ToArray();
        Assert.All(rows, r => Assert.InRange(double.Parse(r[2], CultureInfo.InvariantCulture), 0, 1));
        Assert.Equal("2024-01-01 00:00:00", rows[0][0]);
        Assert.Equal("100", rows[0][1]);
        var alarms = rows.Select((r, i) => (Row: i, Score: double.Parse(r[2], CultureInfo.InvariantCulture))).Where(r => r.Score >= 0.5).Select(r => r.Row).ToArray();
        Assert.Equal([500], alarms);
        Assert.Contains("600 rows, 1 alarm (score >= 0.5): 2024-01-02 17:40:00", result.Error, StringComparison.Ordinal);
        Assert.Equal("", result.Output);
    }

    [Fact]
    public async Task Score_NoOutputOption_WritesToStdout()
    {
        var input = WriteSeries("short.csv", 10, spikeAt: null);

        var result = await RunAsync("anomaly", "score", "--input", input);

        Assert.Equal(0, result.ExitCode);
        var lines = result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(11, lines.Length);
        Assert.Equal("2024-01-01 00:45:00,101,0", lines[^1]);
    }

    [Fact]
    public async Task Score_BadRow_ExitCode2NamesTheLineAndLeavesNoOutput()
    {
        var input = Path.Combine(_dir, "bad.csv");
        await File.WriteAllTextAsync(input, "timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:05:00,1\n2024-01-01 00:10:00,lots\n");
        var output = Path.Combine(_dir, "bad.scores.csv");

        var result = await RunAsync("anomaly", "score", "--input", input, "--output", output);

        Assert.Equal(2, result.ExitCode);
        Assert.Equal($"gantry anomaly score: {input}:4: expected a finite decimal number, got 'lots'\n", result.Error);
        Assert.False(File.Exists(output));
        Assert.Single(Directory.GetFiles(_dir));
    }

    [Theory]
    [InlineData("time,value\n", "1: expected the header 'timestamp,value', got 'time,value'")]
    [InlineData("", "1: the file is empty")]
    [InlineData("timestamp,value\n10/04/2014 00:00,1\n", "2: expected a timestamp such as 2014-04-10 00:00:00, got '10/04/2014 00:00'")]
    [InlineData("timestamp,value\n2024-01-01 00:00:00,1,2\n", "2: expected two fields")]
    [InlineData("timestamp,value\n2024-01-01 00:00:00,NaN\n", "2: expected a finite decimal number, got 'NaN'")]
    public async Task Score_MalformedFile_ExitCode2WithTheReason(string content, string expected)
    {
        var input = Path.Combine(_dir, "malformed.csv");
        await File.WriteAllTextAsync(input, content);

        var result = await RunAsync("anomaly", "score", "--input", input);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"{input}:{expected}", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Score_MissingInput_ExitCode2()
    {
        var missing = Path.Combine(_dir, "nothing-here.csv");

        var result = await RunAsync("anomaly", "score", "--input", missing);

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith($"gantry anomaly score: --input: cannot read {missing}: ", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Score_OutputFolderMissing_ExitCode2()
    {
        var input = WriteSeries("ok.csv", 5, spikeAt: null);

        var result = await RunAsync("anomaly", "score", "--input", input, "--output", Path.Combine(_dir, "no", "such", "dir", "out.csv"));

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--output: cannot write", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Score_WithoutInput_IsAParseError()
    {
        var result = await RunAsync("anomaly", "score");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--input", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_ExplainsTheFormatTheScoreAndTheExitCodes()
    {
        var result = await RunAsync("anomaly", "score", "--help");

        Assert.Equal(0, result.ExitCode);
        foreach (var text in new[] { "--input", "--output", "timestamp,value", "anomaly_score", "0.5 or more", "Exit code" })
        {
            Assert.Contains(text, result.Output, StringComparison.Ordinal);
        }

        var command = AnomalyCommand.Create(new CliContext(TextWriter.Null, TextWriter.Null, _ => null, TimeProvider.System));
        Assert.Equal("anomaly", command.Name);
        Assert.Equal(AnomalyCommand.Description, command.Description);
        Assert.All(command.Subcommands.SelectMany(c => c.Options), o => Assert.False(string.IsNullOrWhiteSpace(o.Description), o.Name));
    }

    /// <summary>A series every 5 minutes from 2024-01-01: 100, 101, 100, 101, … and 1,000 at row <paramref name="spikeAt"/>.</summary>
    private string WriteSeries(string name, int rows, int? spikeAt)
    {
        var path = Path.Combine(_dir, name);
        using var writer = new StreamWriter(path) { NewLine = "\n" };
        writer.WriteLine("timestamp,value");
        var start = new DateTime(2024, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        for (var i = 0; i < rows; i++)
        {
            var value = i == spikeAt ? 1000 : 100 + (i % 2);
            writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{start.AddMinutes(5 * i):yyyy-MM-dd HH:mm:ss},{value}"));
        }

        return path;
    }

    private static async Task<CliResult> RunAsync(params string[] args)
    {
        var output = new StringWriter { NewLine = "\n" };
        var error = new StringWriter { NewLine = "\n" };
        var root = new RootCommand("test") { AnomalyCommand.Create(new CliContext(output, error, _ => null, TimeProvider.System)) };
        var parseResult = root.Parse(args);
        if (parseResult.Errors.Count > 0)
        {
            return new CliResult(2, output.ToString(), string.Join("\n", parseResult.Errors.Select(e => e.Message)));
        }

        var code = await parseResult.InvokeAsync(new InvocationConfiguration { Output = output, Error = error });
        return new CliResult(code, output.ToString(), error.ToString());
    }
}
