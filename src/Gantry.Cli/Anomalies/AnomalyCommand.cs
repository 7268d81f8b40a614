using System.CommandLine;
using System.Globalization;
using System.Text;
using Gantry.Core.Anomalies;

namespace Gantry.Cli.Anomalies;

/// <summary>
/// <c>gantry anomaly score</c>: runs the streaming anomaly detector (Gantry.Core's
/// <see cref="AnomalyDetector"/>, the one parameter set) over a series file, offline. Nothing is sent to a
/// server.
/// </summary>
public static class AnomalyCommand
{
    /// <summary>What <c>gantry --help</c> and <c>gantry anomaly --help</c> say it does.</summary>
    public const string Description = "Score a time series file for anomalies with the streaming detector, offline.";

    /// <summary>Alarms listed by name in the summary on stderr.</summary>
    private const int AlarmsListed = 5;

    /// <summary>The command, writing to the process's console.</summary>
    public static Command Create() => Create(CliContext.FromProcess());

    internal static Command Create(CliContext context)
    {
        var anomaly = new Command("anomaly", Description);
        anomaly.Subcommands.Add(CreateScore(context));
        return anomaly;
    }

    private static Command CreateScore(CliContext context)
    {
        var input = new Option<string>("--input")
        {
            Description = "The series to score: a CSV file with the header 'timestamp,value', one row per sample, oldest first (the Numenta Anomaly Benchmark's format).",
            HelpName = "FILE",
            Required = true,
        };
        var output = new Option<string>("--output")
        {
            Description = "Where to write 'timestamp,value,anomaly_score', row for row (replaced only once the whole input has been read). (default: stdout)",
            HelpName = "FILE",
        };
        var command = new Command("score", $"""
            Feed a series to the anomaly detector sample by sample, as the server will feed telemetry, and
            write each row with its anomaly score. Timestamps read like 2014-04-10 00:00:00 (UTC) or ISO 8601.
            The score of a row uses that row and earlier ones only, and lies in [0, 1]: {AnomalyDetector.AlarmScore} or more
            is an alarm (a one-in-a-million surprise against the series' own history; one anomaly raises one
            alarm, as the detector rests for a while after each). The first {AnomalyDetector.WarmUpSamples} rows score 0 while the detector
            learns; it judges the hour of the day in UTC. Every series gets the same parameters.
              gantry anomaly score --input nyc_taxi.csv --output nyc_taxi.scores.csv
            A summary (rows, alarms) goes to stderr. Exit code 0; 2 for a missing or unreadable input, an output
            that cannot be created, or a bad row (its line number is given); 1 if reading or writing fails part way.
            """) { input, output };
        command.SetAction((parseResult, cancellationToken) =>
            ScoreAsync(context, parseResult.GetValue(input)!, parseResult.GetValue(output), cancellationToken));
        return command;
    }

    private static async Task<int> ScoreAsync(CliContext context, string inputPath, string? outputPath, CancellationToken cancellationToken)
    {
        const string Command = "gantry anomaly score";
        StreamReader reader;
        try
        {
            reader = new StreamReader(inputPath, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            await context.Error.WriteAsync($"{Command}: --input: cannot read {inputPath}: {ex.Message}\n").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        string? temporary = null;
        StreamWriter? file = null;
        try
        {
            if (outputPath is not null)
            {
                // Written beside the output and moved over it at the end: a bad row leaves no half-written file.
                try
                {
                    var full = Path.GetFullPath(outputPath);
                    temporary = Path.Combine(Path.GetDirectoryName(full)!, "." + Path.GetFileName(full) + "." + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + ".tmp");
                    file = new StreamWriter(temporary, append: false, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false)) { NewLine = "\n" };
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
                {
                    temporary = null;
                    await context.Error.WriteAsync($"{Command}: --output: cannot write {outputPath}: {ex.Message}\n").ConfigureAwait(false);
                    return ExitCodes.Usage;
                }
            }

            var writer = file ?? context.Output;
            var detector = new AnomalyDetector();
            var rows = 0L;
            var alarms = new List<string>();
            var alarmCount = 0;
            await writer.WriteAsync(SeriesCsv.Header + ",anomaly_score\n").ConfigureAwait(false);
            await foreach (var row in SeriesCsv.ReadAsync(reader, cancellationToken).ConfigureAwait(false))
            {
                var score = detector.Update(row.Timestamp, row.Value);
                rows++;
                if (score >= AnomalyDetector.AlarmScore)
                {
                    alarmCount++;
                    if (alarms.Count < AlarmsListed)
                    {
                        alarms.Add($"{row.TimestampText} ({TermName(detector.LastTerm)})");
                    }
                }

                await writer.WriteAsync(SeriesCsv.FormatScored(row, score) + "\n").ConfigureAwait(false);
            }

            await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
            if (file is not null)
            {
                await file.DisposeAsync().ConfigureAwait(false);
                file = null;
                File.Move(temporary!, outputPath!, overwrite: true);
                temporary = null;
            }

            var listed = alarmCount == 0 ? "" : ": " + string.Join(", ", alarms) + (alarmCount > alarms.Count ? ", ..." : "");
            await context.Error.WriteAsync(string.Create(CultureInfo.InvariantCulture, $"{Command}: {rows:N0} rows, {alarmCount} alarm{(alarmCount == 1 ? "" : "s")} (score >= {AnomalyDetector.AlarmScore}){listed}\n")).ConfigureAwait(false);
            return ExitCodes.Success;
        }
        catch (SeriesFormatException ex)
        {
            await context.Error.WriteAsync($"{Command}: {inputPath}:{ex.Line}: {ex.Message}\n").ConfigureAwait(false);
            return ExitCodes.Usage;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A read of the input or a write of the output failed part way (a disk error, a vanished file).
            await context.Error.WriteAsync($"{Command}: {ex.Message}\n").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return ExitCodes.Interrupted;
        }
        finally
        {
            reader.Dispose();
            if (file is not null)
            {
                await file.DisposeAsync().ConfigureAwait(false);
            }

            if (temporary is not null)
            {
                File.Delete(temporary);
            }
        }
    }

    private static string TermName(AnomalyTerm term) => term switch
    {
        AnomalyTerm.RareValue => "rare value",
        AnomalyTerm.RareMix => "rare mix of values",
        AnomalyTerm.Jump => "jump",
        AnomalyTerm.HourOfDay => "unusual for the hour",
        _ => "none",
    };
}
