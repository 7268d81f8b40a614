using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Gantry.Core.Carbon;

namespace Gantry.Cli.Carbon;

/// <summary>
/// <c>gantry carbon simulate</c>: replays a year of a carbon-intensity trace through the scheduler's
/// own deferral code (<see cref="CarbonPlanner"/>, via <see cref="CarbonSimulation"/>) with a
/// simulated clock, offline. Nothing is sent to a server.
/// </summary>
public static class CarbonCommand
{
    /// <summary>What <c>gantry --help</c> and <c>gantry carbon --help</c> say it does.</summary>
    public const string Description = "Simulate carbon-aware deferral over a year of a carbon-intensity trace, offline.";

    /// <summary>The command, writing to the process's console.</summary>
    public static Command Create() => Create(CliContext.FromProcess());

    internal static Command Create(CliContext context)
    {
        var carbon = new Command("carbon", Description);
        carbon.Subcommands.Add(CreateSimulate(context));
        return carbon;
    }

    private static Command CreateSimulate(CliContext context)
    {
        var trace = new Option<string>("--trace")
        {
            Description = "The trace: a CSV file with the header 'Time,Carbon Intensity', one row per step, a UTC time and grams of CO2e per kWh (the format of shared/data/carbon/*.csv).",
            HelpName = "FILE",
            Required = true,
        };
        var scenario = new Option<string>("--scenario")
        {
            Description = "ml: jobs arrive on workdays 09:00-17:00, 4 to 90 minutes long, due 09:00 the next workday; nightly: one 30-minute job a day issued at 01:00 that may start up to 8 hours later.",
            HelpName = "ml|nightly",
            Required = true,
        };
        var error = new Option<string>("--forecast-error")
        {
            Description = "The relative standard deviation of the noise on each forecast the scheduler sees (0.1: 10 %); every forecast issue draws fresh noise for each point; emissions are counted on the trace itself. (default: 0, a perfect forecast)",
            HelpName = "E",
        };
        var seed = new Option<string>("--seed")
        {
            Description = "Seeds the ML job arrivals and the forecast noise; the same seed gives the same result. (default: 1)",
            HelpName = "N",
        };
        var output = new Option<string>("--output", "-o")
        {
            Description = "table (for people) or json. (default: table)",
            HelpName = "table|json",
        };
        var command = new Command("simulate", """
            Replay the first whole year of a trace through the scheduler's own deferral code with a simulated
            clock: a fresh forecast (the trace ahead, 48 hours) is issued every trace step, held jobs are
            re-planned on it, and a job starts at its planned start. Jobs draw 1 kW while they run. Prints the
            grams of CO2e of running every job at once against deferring it, the saving and the deadlines missed.
              gantry carbon simulate --trace gb_ci.csv --scenario nightly --forecast-error 0.1 -o json
            JSON keys: scenario, trace, forecastError, seed, from, to, jobs, jobsDeferred, baselineGrams,
            deferredGrams, savingsPercent, deadlineMisses. Exit code 0; 2 for a bad option, a missing or
            unreadable trace, a bad row (its line is given) or a trace shorter than a year and a week.
            """) { trace, scenario, error, seed, output };
        command.SetAction((parseResult, cancellationToken) => SimulateAsync(
            context,
            parseResult.GetValue(trace)!,
            parseResult.GetValue(scenario)!,
            parseResult.GetValue(error),
            parseResult.GetValue(seed),
            parseResult.GetValue(output),
            cancellationToken));
        return command;
    }

    private static async Task<int> SimulateAsync(CliContext context, string tracePath, string scenarioText, string? errorText, string? seedText, string? outputText, CancellationToken cancellationToken)
    {
        const string Command = "gantry carbon simulate";
        CarbonScenario scenario;
        switch (scenarioText)
        {
            case "ml":
                scenario = CarbonScenario.Ml;
                break;
            case "nightly":
                scenario = CarbonScenario.Nightly;
                break;
            default:
                return await UsageAsync(context, $"--scenario: '{scenarioText}' is not a scenario (ml or nightly).").ConfigureAwait(false);
        }

        var forecastError = 0.0;
        if (errorText is not null
            && (!double.TryParse(errorText, NumberStyles.Float, CultureInfo.InvariantCulture, out forecastError) || !(forecastError >= 0 && forecastError < 1)))
        {
            return await UsageAsync(context, $"--forecast-error: '{errorText}' is not a relative error from 0 to under 1 (0.1 is 10 %).").ConfigureAwait(false);
        }

        var seed = 1;
        if (seedText is not null && !int.TryParse(seedText, NumberStyles.Integer, CultureInfo.InvariantCulture, out seed))
        {
            return await UsageAsync(context, $"--seed: '{seedText}' is not a whole number.").ConfigureAwait(false);
        }

        var json = outputText switch
        {
            null or "table" => false,
            "json" => true,
            _ => (bool?)null,
        };
        if (json is null)
        {
            return await UsageAsync(context, $"--output: '{outputText}' is not a format (table or json).").ConfigureAwait(false);
        }

        CarbonForecast forecast;
        try
        {
            forecast = CarbonTraceCsv.ReadFile(tracePath, Path.GetFileNameWithoutExtension(tracePath), context.TimeProvider.GetUtcNow());
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return await UsageAsync(context, $"--trace: cannot read {tracePath}: {ex.Message}").ConfigureAwait(false);
        }
        catch (FormatException ex)
        {
            return await UsageAsync(context, $"--trace: {ex.Message}").ConfigureAwait(false);
        }

        CarbonSimulationResult result;
        try
        {
            result = await Task.Run(
                () => CarbonSimulation.Run(forecast, new CarbonSimulationOptions { Scenario = scenario, ForecastError = forecastError, Seed = seed }),
                cancellationToken).ConfigureAwait(false);
        }
        catch (ArgumentException ex)
        {
            return await UsageAsync(context, $"--trace: {tracePath}: {ex.Message}").ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return ExitCodes.Interrupted;
        }

        await context.Output.WriteAsync(json.Value ? Json(result, tracePath) : Table(result, tracePath)).ConfigureAwait(false);
        return ExitCodes.Success;

        async Task<int> UsageAsync(CliContext c, string message)
        {
            await c.Error.WriteAsync($"{Command}: {message}\n").ConfigureAwait(false);
            return ExitCodes.Usage;
        }
    }

    /// <summary>The result as indented JSON with the documented keys.</summary>
    internal static string Json(CarbonSimulationResult result, string tracePath)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("scenario", result.Scenario);
            json.WriteString("trace", tracePath);
            json.WriteNumber("forecastError", result.ForecastError);
            json.WriteNumber("seed", result.Seed);
            json.WriteString("from", result.From);
            json.WriteString("to", result.To);
            json.WriteNumber("jobs", result.Jobs);
            json.WriteNumber("jobsDeferred", result.JobsDeferred);
            json.WriteNumber("baselineGrams", Math.Round(result.BaselineGrams, 1));
            json.WriteNumber("deferredGrams", Math.Round(result.DeferredGrams, 1));
            json.WriteNumber("savingsPercent", Math.Round(result.SavingsPercent, 2));
            json.WriteNumber("deadlineMisses", result.DeadlineMisses);
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan) + "\n";
    }

    private static string Table(CarbonSimulationResult result, string tracePath) => string.Create(CultureInfo.InvariantCulture, $"""
        scenario         {result.Scenario}, {result.From:yyyy-MM-dd} to {result.To.AddDays(-1):yyyy-MM-dd}
        trace            {tracePath}
        forecast error   {result.ForecastError * 100:0.##} % (seed {result.Seed})
        jobs             {result.Jobs:N0} ({result.JobsDeferred:N0} deferred)
        run at once      {result.BaselineGrams / 1000:N1} kg CO2e (jobs drawing 1 kW)
        deferred         {result.DeferredGrams / 1000:N1} kg CO2e
        savings          {result.SavingsPercent:0.00} %
        deadline misses  {result.DeadlineMisses}

        """);
}
