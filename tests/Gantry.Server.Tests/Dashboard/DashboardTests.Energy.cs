using System.Net.Http.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;

namespace Gantry.Server.Tests.Dashboard;

/// <summary>Job energy on the job page.</summary>
public sealed partial class DashboardTests
{
    [Fact]
    public async Task JobPage_Energy_LiveWhileRunningThenFinal()
    {
        using var browser = Browser();
        await LogInAsync(browser);
        var (nodeId, node) = await _server.RegisterAsync("energy", gpus: 1);
        var id = (await _server.SubmitAsync(new JobSubmission { Command = ["train"], Resources = new ResourceRequest { Gpus = 1 } }))[0];
        var a = (await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Count == 1)).Attempts[0];
        var since = DateTimeOffset.UnixEpoch;
        (await ServerHarness.ReportAsync(node, a, new AttemptEvent { Epoch = a.Epoch, Type = AttemptEventType.Started, Time = since })).Dispose();
        var report = new AttemptEnergyReport
        {
            JobId = a.JobId,
            Attempt = a.Attempt,
            Epoch = a.Epoch,
            Since = since,
            MeasuredAt = since.AddSeconds(3600),
            GpuEnergyJoules = 3.6e6,
            AverageGpuPowerWatts = 1000,
            PeakGpuPowerWatts = 1200,
        };
        (await node.PostAsJsonAsync($"/api/v1/nodes/{nodeId}/heartbeat", new HeartbeatRequest { AttemptEnergy = [report] }, GantryJson.Default.HeartbeatRequest)).Dispose();

        var live = await (await browser.GetAsync($"/jobs/{id}")).Content.ReadAsStringAsync();
        Assert.Contains("<dd id=\"job-energy\">1 kWh (GPU 1 kWh) so far</dd>", live, StringComparison.Ordinal);
        Assert.Contains("<dd id=\"job-gpu-power\">average 1000 W, peak 1200 W</dd>", live, StringComparison.Ordinal);
        Assert.Matches("<dd id=\"job-co2\">(–|&#x2013;)</dd>", live);

        (await ServerHarness.ReportAsync(node, a, new AttemptEvent
        {
            Epoch = a.Epoch,
            Type = AttemptEventType.Ended,
            Time = since.AddSeconds(7200),
            Cause = AttemptEndCause.Exited,
            ExitCode = 0,
            Energy = report with { MeasuredAt = since.AddSeconds(7200), GpuEnergyJoules = 7.2e6, CpuEnergyJoules = 3.6e5, Estimated = true },
        })).Dispose();
        var final = await (await browser.GetAsync($"/jobs/{id}")).Content.ReadAsStringAsync();
        Assert.Contains("<dd id=\"job-energy\">2.1 kWh (GPU 2 kWh, CPU 100 Wh), estimated</dd>", final, StringComparison.Ordinal);
        Assert.Matches("<td class=\"num\">~2.1 kWh</td>", final);
    }
}
