using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Testing;

namespace Gantry.Server.Tests.Carbon;

/// <summary>
/// Deferral through the real carbon feature: a <c>file:</c> trace source and <c>--carbon-location</c>,
/// as <c>gantry dev --carbon-source file:… --carbon-location GB</c> runs it (the deferral tests in
/// Jobs/ script the intensity instead).
/// </summary>
public sealed class CarbonDeferralWithSourceTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 3, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task FileSource_DeadlineJob_IsHeldForTheTracesLowHour()
    {
        // Eight days, hourly: 300 g/kWh at every hour but 03:00, which is 100. Replayed by whole weeks,
        // so 03:00 is the low hour on every day.
        var trace = Path.Combine(Path.GetTempPath(), $"gantry-trace-{Guid.NewGuid():N}.csv");
        var lines = new List<string> { "Time,Carbon Intensity" };
        for (var hour = 0; hour < 8 * 24; hour++)
        {
            var at = new DateTime(2019, 12, 20, 0, 0, 0, DateTimeKind.Utc).AddHours(hour);
            lines.Add(FormattableString.Invariant($"{at:yyyy-MM-dd HH:mm:ss},{(at.Hour == 3 ? 100 : 300)}"));
        }

        await File.WriteAllLinesAsync(trace, lines);
        try
        {
            var time = new FakeTimeProvider(T0);
            await using var server = await ServerHarness.StartAsync(time, configure: o =>
            {
                o.CarbonSource = "file:" + trace;
                o.CarbonLocation = "GB";
                o.HeartbeatInterval = TimeSpan.FromHours(12);
                o.DownAfter = TimeSpan.FromDays(3);
            });
            await server.RegisterAsync("box", 1);
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (!(await server.Admin.GetStringAsync("/api/v1/carbon?location=GB")).Contains("\"state\":\"fresh\"", StringComparison.Ordinal))
            {
                Assert.True(DateTime.UtcNow < deadline, "the trace was not loaded within 20 s");
                await Task.Delay(100);
            }

            var id = (await server.SubmitAsync(new JobSubmission
            {
                Command = ["train"],
                Resources = new ResourceRequest { Gpus = 1 },
                Deadline = T0.AddHours(8),
                ExpectedRuntimeSeconds = 1800,
            }))[0];

            var job = await server.JobAsync(id);
            Assert.Equal(JobState.Pending, job.State);
            Assert.Equal(T0.AddHours(3), job.PlannedStart);
            Assert.StartsWith("deferred for carbon: now 300 g/kWh, planned 03:00 at 100 g/kWh", job.Reason, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(trace);
        }
    }
}
