using System.Text.Json;
using Gantry.Core.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Gantry.Cli.Tests.Reports;

/// <summary><c>gantry report energy</c> against a canned API: the query it sends, its table, CSV and JSON, and its checks.</summary>
public sealed class ReportEnergyTests
{
    private static readonly EnergyReport Report = new()
    {
        Since = new DateTimeOffset(2026, 2, 22, 12, 0, 0, TimeSpan.Zero),
        Until = new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero),
        By = "label:team",
        Groups =
        [
            new EnergyReportRow { Group = "vision, research", EnergyJoules = 7.2e9, GpuEnergyJoules = 6.84e9, CpuEnergyJoules = 3.6e8, Co2Grams = 250_000, GpuHours = 2400, Jobs = 12, Attempts = 13, Estimated = true },
            new EnergyReportRow { Group = "(none)", EnergyJoules = 3.6e6, GpuEnergyJoules = 3.6e6, CpuEnergyJoules = 0, GpuHours = 1.5, Jobs = 1, Attempts = 1, Estimated = false, Simulated = true },
        ],
        Total = new EnergyReportRow { Group = "total", EnergyJoules = 7.2036e9, GpuEnergyJoules = 6.8436e9, CpuEnergyJoules = 3.6e8, Co2Grams = 250_000, GpuHours = 2401.5, Jobs = 13, Attempts = 14, Estimated = true, Simulated = true },
    };

    private static async Task<(CliResult Result, FakeApi Api)> RunAsync(params string[] args)
    {
        var api = await FakeApi.StartAsync(app =>
            app.MapGet("/api/v1/reports/energy", (HttpContext c) => FakeApi.WriteAsync(c, 200, "application/json", JsonSerializer.Serialize(Report, GantryJson.Default.EnergyReport))));
        var harness = new CliHarness { Clock = TimeProvider.System };
        harness.Environment["GANTRY_SERVER"] = api.Url;
        harness.Environment["GANTRY_TOKEN"] = "admin-token";
        return (await harness.RunAsync(args), api);
    }

    [Fact]
    public async Task Table_GroupsThenTotal_SendsSinceAndBy()
    {
        var (result, api) = await RunAsync("report", "energy", "--since", "7d", "--by", "label:team");
        await using var _ = api;

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("/api/v1/reports/energy?since=7d&by=label%3Ateam", Assert.Single(api.Received).PathAndQuery);
        var lines = result.Output.TrimEnd('\n').Split('\n');
        Assert.Equal("Since 2026-02-22 12:00Z, by label:team", lines[0]);
        Assert.Matches(@"^TEAM\s+ENERGY\s+GPU\s+CPU\s+CO2E\s+GPU HOURS\s+JOBS$", lines[1]);
        Assert.Matches(@"^vision, research\s+~2 MWh\s+1.9 MWh\s+100 kWh\s+250 kg\s+2400\s+12$", lines[2]);
        Assert.Matches(@"^\(none\)\s+1 kWh \(sim\)\s+1 kWh\s+0 J\s+-\s+1.5\s+1$", lines[3]);
        Assert.Matches(@"^total\s+~2 MWh \(sim\)\s+1.9 MWh\s+100 kWh\s+250 kg\s+2401.5\s+13$", lines[4]);
    }

    [Fact]
    public async Task Csv_HeaderRowsAndTotal_QuotedWhereNeeded()
    {
        var (result, api) = await RunAsync("report", "energy", "-o", "csv", "--by", "label:team");
        await using var _ = api;

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(
            "group,energy_joules,gpu_energy_joules,cpu_energy_joules,co2_grams,gpu_hours,jobs,attempts,estimated,simulated\n"
            + "\"vision, research\",7200000000,6840000000,360000000,250000,2400,12,13,true,false\n"
            + "(none),3600000,3600000,0,,1.5,1,1,false,true\n"
            + "total,7203600000,6843600000,360000000,250000,2401.5,13,14,true,true\n",
            result.Output);
    }

    [Fact]
    public async Task Json_TheApisAnswer()
    {
        var (result, api) = await RunAsync("report", "energy", "-o", "json");
        await using var _ = api;

        Assert.Equal(0, result.ExitCode);
        using var json = JsonDocument.Parse(result.Output);
        Assert.Equal(2, json.RootElement.GetProperty("groups").GetArrayLength());
        Assert.Equal(14, json.RootElement.GetProperty("total").GetProperty("attempts").GetInt32());
    }

    [Theory]
    [InlineData("--since", "7 days", "--since")]
    [InlineData("--since", "0s", "--since")]
    [InlineData("--by", "team", "--by")]
    [InlineData("--by", "label:", "--by")]
    [InlineData("-o", "xml", "--output")]
    public async Task BadFlag_ExitCode2NamingIt_NothingSent(string flag, string value, string named)
    {
        var (result, api) = await RunAsync("report", "energy", flag, value);
        await using var _ = api;

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(named, result.Error, StringComparison.Ordinal);
        Assert.Empty(api.Received);
    }
}
