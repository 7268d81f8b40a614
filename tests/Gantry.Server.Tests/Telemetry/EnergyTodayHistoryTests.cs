using Gantry.Core.Protocol;
using Gantry.Server.Telemetry;
using Microsoft.Data.Sqlite;

namespace Gantry.Server.Tests.Telemetry;

/// <summary>Energy today read back from a real telemetry file, as the server does after a restart.</summary>
public sealed class EnergyTodayHistoryTests : IDisposable
{
    private static readonly DateTimeOffset Midnight = new(2026, 3, 2, 0, 0, 0, TimeSpan.Zero);
    private readonly string _dir = Directory.CreateTempSubdirectory("gantry-energy-").FullName;
    private readonly TelemetryStore _store;

    public EnergyTodayHistoryTests() => _store = TelemetryStore.Open(Path.Combine(_dir, "telemetry.db"));

    public void Dispose()
    {
        _store.Dispose();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void FromHistory_NodePowerElseGpuPower_SinceMidnightOnly()
    {
        var items = new List<TelemetryItem>();
        // Yesterday's last minutes do not count.
        for (var at = Midnight.AddMinutes(-5); at <= Midnight.AddMinutes(10); at = at.AddSeconds(5))
        {
            items.Add(new TelemetryItem("a", at, new NodeSummary { SampledAt = at, PowerWatts = 100 }));
            items.Add(new TelemetryItem("b", at, new NodeSummary { SampledAt = at, Gpus = [new GpuSummary { Index = 0, PowerWatts = 300 }, new GpuSummary { Index = 1, PowerWatts = 200 }] }));
        }

        _store.Write(items.ToArray());

        var joules = EnergyToday.FromHistory(_store, [("a", []), ("b", [0, 1]), ("never-reported", [0])], Midnight.AddMinutes(10));

        // a: 100 W for 10 minutes; b: no node figure, so its GPUs' 500 W for 10 minutes.
        Assert.Equal((100 + 500) * 600.0, joules, 6);
        Assert.Equal(0, EnergyToday.FromHistory(_store, [("a", [])], Midnight.AddSeconds(30)));
    }

    [Fact]
    public void Seed_AddsToTodayOnly()
    {
        var energy = new EnergyToday();
        energy.Seed(Midnight.AddHours(1), 3600);
        Assert.Equal(3600, energy.Joules(Midnight.AddHours(2)));
        energy.Seed(Midnight.AddHours(-1), 99);
        Assert.Equal(3600, energy.Joules(Midnight.AddHours(2)));
        Assert.Equal(0, energy.Joules(Midnight.AddDays(1)));
    }
}
