using Gantry.Core.Protocol;
using Gantry.Server.Jobs;
using Gantry.Server.Services;
using Gantry.Testing;

namespace Gantry.Server.Tests.Services;

/// <summary>The per-service registry from scripted reports: rates from counter deltas, resets, tokens per joule, notes, history.</summary>
public sealed class ServiceMetricsRegistryTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 3, 12, 0, 0, TimeSpan.Zero);

    private readonly FakeTimeProvider _clock = new(T0);
    private readonly ServiceMetricsRegistry _registry;

    public ServiceMetricsRegistryTests() => _registry = new ServiceMetricsRegistry(_clock);

    private static ServiceAttemptView View(long jobId, int attempt, double seconds, double? generated, double? prompt = null, string? error = null, ServiceHealth health = ServiceHealth.Healthy) => new(
        new ServiceReport
        {
            JobId = jobId,
            Attempt = attempt,
            Health = health,
            ScrapedAt = generated is null && error is null ? null : error is null ? T0.AddSeconds(seconds) : null,
            GeneratedTokensTotal = generated,
            PromptTokensTotal = prompt,
            RequestsRunning = generated is null ? null : 2,
            RequestsWaiting = generated is null ? null : 1,
            MetricsError = error,
        },
        "chat",
        new ServiceSpec { Port = 8000, MetricsPath = "/metrics" },
        T0);

    private static AttemptEnergyReport Energy(long jobId, int attempt, double seconds, double joules) => new()
    {
        JobId = jobId,
        Attempt = attempt,
        Epoch = 1,
        Since = T0,
        MeasuredAt = T0.AddSeconds(seconds),
        GpuEnergyJoules = joules,
        AverageGpuPowerWatts = seconds > 0 ? joules / seconds : null,
    };

    private void Beat(double seconds, ServiceAttemptView view, AttemptEnergyReport? energy = null)
    {
        _clock.Advance(T0.AddSeconds(seconds) - _clock.GetUtcNow());
        _registry.Observe("n1", [view], energy is null ? null : [energy]);
    }

    [Fact]
    public void Observe_CountersAndEnergy_TokensPerSecondPowerAndTokensPerJoule()
    {
        Beat(5, View(1, 1, 5, 1_000, 400), Energy(1, 1, 5, 1_500));
        var first = _registry.For(1)!;
        Assert.Null(first.GeneratedTokensPerSecond); // one reading: no rate yet
        Assert.Equal(300, first.GpuPowerWatts); // the attempt's average so far
        Assert.Equal(2, first.RequestsRunning);
        Assert.Equal(1, first.RequestsWaiting);

        // 1,200 tokens and 2,000 J in the next 10 s.
        Beat(15, View(1, 1, 15, 2_200, 900), Energy(1, 1, 15, 3_500));
        var second = _registry.For(1)!;
        Assert.Equal(120, second.GeneratedTokensPerSecond);
        Assert.Equal(50, second.PromptTokensPerSecond);
        Assert.Equal(200, second.GpuPowerWatts);
        Assert.Equal(0.6, second.TokensPerJoule!.Value, 9);
        Assert.Null(second.Note);
        Assert.Equal(T0.AddSeconds(15), second.At);
    }

    [Fact]
    public void Observe_EnergyReadingsUnderASecondApart_NotDividedIntoASpike()
    {
        // The attempt's start reading, then a sample 0.2 s later whose counter ran 100 J ahead (500 W over 0.2 s).
        Beat(5, View(1, 1, 5, 1_000), Energy(1, 1, 0.0, 0) with { AverageGpuPowerWatts = null });
        Beat(6, View(1, 1, 6, 1_100), Energy(1, 1, 0.2, 100) with { AverageGpuPowerWatts = 500 });
        Assert.Null(_registry.For(1)!.GpuPowerWatts);

        // 10 s on at 250 W: the power is figured over the whole interval since the first reading.
        Beat(16, View(1, 1, 16, 2_100), Energy(1, 1, 10.0, 2_500));
        Assert.Equal(250, _registry.For(1)!.GpuPowerWatts!.Value, 9);
    }

    [Fact]
    public void Observe_SimulatedGpus_FiguresLabelledSimulated()
    {
        Beat(5, View(1, 1, 5, 1_000), Energy(1, 1, 5, 1_500) with { Simulated = true });
        Beat(15, View(1, 1, 15, 2_200), Energy(1, 1, 15, 3_500) with { Simulated = true });
        Assert.True(_registry.For(1)!.Simulated);

        // A measured GPU's figures carry no label (null, left out of the JSON).
        Beat(20, View(2, 1, 20, 1_000), Energy(2, 1, 20, 1_500));
        Assert.Null(_registry.For(2)!.Simulated);
    }

    [Fact]
    public void Observe_CounterReset_NewValueIsTheIncrease()
    {
        Beat(5, View(1, 1, 5, 10_000), Energy(1, 1, 5, 500));
        Beat(10, View(1, 1, 10, 10_500), Energy(1, 1, 10, 1_000));
        Assert.Equal(100, _registry.For(1)!.GeneratedTokensPerSecond);

        // The server restarted inside its container: the counter starts again from 0.
        Beat(15, View(1, 1, 15, 300), Energy(1, 1, 15, 1_500));
        var after = _registry.For(1)!;
        Assert.Equal(60, after.GeneratedTokensPerSecond);
        Assert.Equal(0.6, after.TokensPerJoule!.Value, 9);
    }

    [Fact]
    public void Observe_ScrapeAndEnergyAtTheirOwnTimes_TokensPerJouleWaitsForBoth()
    {
        Beat(5, View(1, 1, 5, 0), Energy(1, 1, 5, 0));

        // A heartbeat with the same scrape as before: energy moved, tokens not read again.
        Beat(10, View(1, 1, 5, 0), Energy(1, 1, 10, 1_000));
        Assert.Null(_registry.For(1)!.TokensPerJoule);

        // The next scrape: 500 tokens over both intervals' 2,000 J.
        Beat(15, View(1, 1, 15, 500), Energy(1, 1, 15, 2_000));
        Assert.Equal(0.25, _registry.For(1)!.TokensPerJoule!.Value, 9);
    }

    [Fact]
    public void Observe_NoMetricsEndpoint_NoteAndPowerAlone()
    {
        Beat(5, View(2, 1, 5, null), Energy(2, 1, 5, 1_000));
        Beat(10, View(2, 1, 10, null), Energy(2, 1, 10, 2_500));

        var info = _registry.For(2)!;
        Assert.Equal(ServiceMetricsRegistry.NoEndpointNote, info.Note);
        Assert.Equal("no metrics endpoint: measured by GPU energy alone", info.Note);
        Assert.Equal(300, info.GpuPowerWatts);
        Assert.Null(info.GeneratedTokensPerSecond);
        Assert.Null(info.TokensPerJoule);
        Assert.Null(info.RequestsRunning);
    }

    [Fact]
    public void Observe_MetricsReadFailed_FiguresLeftOutWithTheError()
    {
        Beat(5, View(3, 1, 5, 100));
        Beat(10, View(3, 1, 10, 200));
        Assert.Equal(20, _registry.For(3)!.GeneratedTokensPerSecond);

        Beat(15, View(3, 1, 15, null, error: "GET http://h:8000/metrics answered 500"));
        var info = _registry.For(3)!;
        Assert.Null(info.GeneratedTokensPerSecond);
        Assert.Null(info.RequestsRunning);
        Assert.Equal("GET http://h:8000/metrics answered 500", info.Note);
    }

    [Fact]
    public void Observe_NewAttempt_CountersStartOverHistoryKept()
    {
        Beat(5, View(4, 1, 5, 1_000));
        Beat(10, View(4, 1, 10, 2_000));
        Assert.Equal(200, _registry.For(4)!.GeneratedTokensPerSecond);

        // The restart's first reading is a baseline, not a (negative) delta against the old attempt.
        Beat(40, View(4, 2, 40, 50, health: ServiceHealth.Starting));
        var restarted = _registry.View(4)!;
        Assert.Null(restarted.Metrics!.GeneratedTokensPerSecond);
        Assert.Equal(ServiceHealth.Starting, restarted.Health);
        Assert.Equal(1, restarted.Restarts);
        Assert.Equal(3, _registry.History(4).Length);
    }

    [Fact]
    public void History_Bounded_OldestDropped()
    {
        for (var i = 1; i <= ServiceMetricsRegistry.HistoryCapacity + 10; i++)
        {
            Beat(i * 5, View(5, 1, i * 5, i * 100.0));
        }

        var history = _registry.History(5);
        Assert.Equal(ServiceMetricsRegistry.HistoryCapacity, history.Length);
        Assert.Equal(T0.AddSeconds(11 * 5), history[0].At);
        Assert.Equal(T0.AddSeconds((ServiceMetricsRegistry.HistoryCapacity + 10) * 5), history[^1].At);
        Assert.All(history, p => Assert.Equal(20, p.GeneratedTokensPerSecond));
    }

    [Fact]
    public void For_Stale_NullAndSweepDropsEndedJobs()
    {
        Beat(5, View(6, 1, 5, 100));
        Beat(6, View(7, 1, 6, 100));
        Assert.NotNull(_registry.For(6));

        _clock.Advance(ServiceMetricsRegistry.StaleAfter + TimeSpan.FromSeconds(1));
        Assert.Null(_registry.For(6));

        Assert.Equal(1, _registry.Sweep(id => id == 7));
        Assert.Null(_registry.View(6));
        Assert.NotNull(_registry.View(7));
        Assert.Equal(1, _registry.Count);
    }
}
