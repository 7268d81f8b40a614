using System.Globalization;

namespace Gantry.Server.Tests.Carbon;

/// <summary>A carbon trace for <c>--carbon-source file:</c> in a temp file, deleted on dispose.</summary>
internal sealed class TraceFile : IDisposable
{
    private TraceFile(string path) => Path = path;

    public string Path { get; }

    /// <summary>
    /// Eight days, hourly from 2019-12-20 00:00 UTC, each hour at <paramref name="gramsAt"/> of its hour of
    /// day. Replayed by whole weeks, so hour h of any day reads hour h of the trace.
    /// </summary>
    public static async Task<TraceFile> HourlyAsync(Func<int, double> gramsAt)
    {
        var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"gantry-trace-{Guid.NewGuid():N}.csv");
        var lines = new List<string> { "Time,Carbon Intensity" };
        for (var hour = 0; hour < 8 * 24; hour++)
        {
            var at = new DateTime(2019, 12, 20, 0, 0, 0, DateTimeKind.Utc).AddHours(hour);
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"{at:yyyy-MM-dd HH:mm:ss},{gramsAt(at.Hour)}"));
        }

        await File.WriteAllLinesAsync(path, lines);
        return new TraceFile(path);
    }

    /// <summary>Waits (20 s at most) until the server's carbon source has a fresh forecast for <paramref name="location"/>.</summary>
    public static async Task WaitForFreshAsync(ServerHarness server, string location)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!(await server.Admin.GetStringAsync("/api/v1/carbon?location=" + location)).Contains("\"state\":\"fresh\"", StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, $"no fresh forecast for {location} within 20 s");
            await Task.Delay(100);
        }
    }

    public void Dispose() => File.Delete(Path);
}
