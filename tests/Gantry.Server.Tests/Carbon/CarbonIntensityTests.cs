using System.Buffers;
using System.Text;
using Gantry.Server.Carbon;
using Gantry.Server.Carbon.Sources;
using Gantry.Telemetry.Exposition;
using Gantry.Testing;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gantry.Server.Tests.Carbon;

/// <summary>The cache over a remote source: fresh, stale while the source fails, expired after --carbon-max-age, back when it recovers; readers never wait.</summary>
public sealed class CarbonIntensityTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private const string Path = "/v3/carbon-intensity/forecast";
    private FakeCarbonApi _api = null!;

    public async Task InitializeAsync() => _api = await FakeCarbonApi.StartAsync();

    public async Task DisposeAsync() => await _api.DisposeAsync();

    /// <summary>24 hourly points from <see cref="Start"/>: 300, 301, 302, ….</summary>
    private static string Hourly()
    {
        var points = string.Join(",", Enumerable.Range(0, 24).Select(h => $$"""{"carbonIntensity": {{300 + h}}, "datetime": "{{Start.AddHours(h):yyyy-MM-ddTHH:mm:ss}}Z"}"""));
        return $$"""{"zone": "DE", "forecast": [{{points}}], "updatedAt": "{{Start:yyyy-MM-ddTHH:mm:ss}}Z"}""";
    }

    private CarbonIntensity Carbon(FakeTimeProvider time, ElectricityMapsSource source, string? fixedLocation = null) =>
        new(CarbonSourceSpec.Parse("electricitymaps:" + _api.Url), source, fixedLocation, TimeSpan.FromMinutes(10), TimeSpan.FromHours(1), time, NullLogger<CarbonIntensity>.Instance);

    [Fact]
    public async Task Forecast_SourceFailsThenRecovers_StaleUntilMaxAgeThenNoneThenFresh()
    {
        var time = new FakeTimeProvider(Start);
        using var source = new ElectricityMapsSource(_api.Url, "token", TimeSpan.FromSeconds(5));
        var carbon = Carbon(time, source);
        _api.Answer(Path, 200, Hourly());

        // Asked about first: wanted, nothing yet (and no warning: nothing has failed).
        Assert.Null(carbon.Forecast("DE"));
        Assert.Equal("pending", Assert.Single(carbon.Locations(time.GetUtcNow())).State);
        await carbon.RefreshDueAsync(CancellationToken.None);
        Assert.Equal(300, carbon.IntensityAt("DE", time.GetUtcNow()));
        Assert.Empty(carbon.Warnings);

        // The source fails: the last good forecast stays in use, with a warning that says until when.
        _api.Answer(Path, 503, """{"status": "error", "message": "maintenance"}""");
        time.Advance(TimeSpan.FromMinutes(10));
        await carbon.RefreshDueAsync(CancellationToken.None);
        Assert.Equal(300, carbon.IntensityAt("DE", time.GetUtcNow()));
        var stale = Assert.Single(carbon.Warnings);
        Assert.Contains("failing for DE since 2026-01-01 00:10:00Z", stale, StringComparison.Ordinal);
        Assert.Contains("503 Service Unavailable: maintenance", stale, StringComparison.Ordinal);
        Assert.Contains("using the forecast fetched at 2026-01-01 00:00:00Z until 2026-01-01 01:00:00Z", stale, StringComparison.Ordinal);
        Assert.Equal("stale", Assert.Single(carbon.Locations(time.GetUtcNow())).State);

        // Retried sooner than the refresh period, still failing; past --carbon-max-age nothing is usable.
        Assert.Equal(time.GetUtcNow() + CarbonIntensity.FirstRetry, carbon.NextDue());
        time.Advance(TimeSpan.FromMinutes(50) + TimeSpan.FromSeconds(1));
        await carbon.RefreshDueAsync(CancellationToken.None);
        Assert.Null(carbon.Forecast("DE"));
        Assert.Null(carbon.IntensityAt("DE", time.GetUtcNow()));
        var expired = Assert.Single(carbon.Warnings);
        Assert.Contains("no usable forecast for DE (the last one expired)", expired, StringComparison.Ordinal);
        Assert.Contains("jobs there are not deferred", expired, StringComparison.Ordinal);
        var status = Assert.Single(carbon.Locations(time.GetUtcNow()));
        Assert.Equal("expired", status.State);
        Assert.Null(status.GramsPerKwh);

        // Back: fresh again, no warning.
        _api.Answer(Path, 200, Hourly());
        time.Advance(TimeSpan.FromMinutes(10));
        await carbon.RefreshDueAsync(CancellationToken.None);
        Assert.Equal(301, carbon.IntensityAt("DE", time.GetUtcNow()));
        Assert.Empty(carbon.Warnings);
        Assert.Equal("fresh", Assert.Single(carbon.Locations(time.GetUtcNow())).State);
    }

    [Fact]
    public async Task Forecast_NeverFetchedAndFailing_WarnsThatNothingIsDeferred()
    {
        var time = new FakeTimeProvider(Start);
        using var source = new ElectricityMapsSource(_api.Url, "token", TimeSpan.FromSeconds(5));
        var carbon = Carbon(time, source, fixedLocation: "DE");
        _api.Answer(Path, 200, "not json");

        await carbon.RefreshDueAsync(CancellationToken.None);

        Assert.Null(carbon.Forecast("DE"));
        var warning = Assert.Single(carbon.Warnings);
        Assert.Contains("no usable forecast for DE (none fetched yet)", warning, StringComparison.Ordinal);
        Assert.Contains("not the documented JSON", warning, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Forecast_WhileTheSourceHangs_AnswersFromTheCacheWithoutWaiting()
    {
        var time = new FakeTimeProvider(Start);
        using var source = new ElectricityMapsSource(_api.Url, "token", TimeSpan.FromSeconds(20));
        var carbon = Carbon(time, source);
        _api.Answer(Path, 200, Hourly());
        Assert.Null(carbon.Forecast("DE"));
        await carbon.RefreshDueAsync(CancellationToken.None);

        _api.Hang(Path, TimeSpan.FromSeconds(15));
        time.Advance(TimeSpan.FromMinutes(10));
        var refresh = carbon.RefreshDueAsync(CancellationToken.None);
        Assert.Equal(310, carbon.IntensityAt("DE", time.GetUtcNow().AddHours(10)));
        Assert.Empty(carbon.Warnings);
        Assert.False(refresh.IsCompleted, "the refresh should still be waiting for the hanging source");
        using var cancel = new CancellationTokenSource();
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => carbon.RefreshDueAsync(cancel.Token));
        await refresh;
    }

    [Fact]
    public void LocationOf_ZoneLabelOrTheFixedLocation()
    {
        var time = new FakeTimeProvider(Start);
        var spec = CarbonSourceSpec.Parse("static:100");
        var byLabel = new CarbonIntensity(spec, new StaticSource(100, TimeSpan.FromHours(24)), null, TimeSpan.FromMinutes(10), TimeSpan.FromHours(1), time, NullLogger<CarbonIntensity>.Instance);
        var fixedOne = new CarbonIntensity(spec, new StaticSource(100, TimeSpan.FromHours(24)), "GB", TimeSpan.FromMinutes(10), TimeSpan.FromHours(1), time, NullLogger<CarbonIntensity>.Instance);

        Assert.Equal("DE", byLabel.LocationOf(new Dictionary<string, string> { ["zone"] = "DE", ["gpu"] = "h100" }));
        Assert.Null(byLabel.LocationOf(new Dictionary<string, string> { ["gpu"] = "h100" }));
        // Asking for a node's location makes it wanted (the worker fetches it).
        Assert.Equal("DE", Assert.Single(byLabel.Locations(Start)).Location);
        Assert.Equal("GB", fixedOne.LocationOf(new Dictionary<string, string> { ["zone"] = "DE" }));
        // --carbon-location is wanted from the start.
        Assert.Equal("GB", Assert.Single(fixedOne.Locations(Start)).Location);
    }

    [Fact]
    public async Task RefreshDue_LocationNobodyAskedAboutForADay_IsForgotten()
    {
        var time = new FakeTimeProvider(Start);
        var carbon = new CarbonIntensity(CarbonSourceSpec.Parse("static:100"), new StaticSource(100, TimeSpan.FromHours(24)), "GB", TimeSpan.FromMinutes(10), TimeSpan.FromHours(1), time, NullLogger<CarbonIntensity>.Instance);
        Assert.NotNull(carbon.Forecast("DE"));
        Assert.NotNull(carbon.Forecast("XX"));

        time.Advance(TimeSpan.FromHours(23));
        _ = carbon.Forecast("DE");
        time.Advance(TimeSpan.FromHours(2));
        await carbon.RefreshDueAsync(CancellationToken.None);

        // DE was asked about within the day; XX was not; --carbon-location is always kept.
        Assert.Equal(["DE", "GB"], carbon.Locations(time.GetUtcNow()).Select(l => l.Location));
    }

    [Fact]
    public void StaticSource_IsFlatOverTheHorizon()
    {
        var time = new FakeTimeProvider(Start.AddMinutes(17));
        var carbon = new CarbonIntensity(CarbonSourceSpec.Parse("static:250.5"), new StaticSource(250.5, TimeSpan.FromHours(24)), null, TimeSpan.FromMinutes(10), TimeSpan.FromHours(1), time, NullLogger<CarbonIntensity>.Instance);

        var forecast = carbon.Forecast("anywhere")!;

        Assert.Equal(250.5, forecast.IntensityAt(time.GetUtcNow()));
        Assert.Equal(250.5, forecast.AverageOver(time.GetUtcNow(), time.GetUtcNow().AddHours(23)));
        Assert.True(forecast.End >= time.GetUtcNow().AddHours(24));
        Assert.Empty(carbon.Warnings);
        time.Advance(TimeSpan.FromDays(3));
        Assert.Equal(250.5, carbon.IntensityAt("anywhere", time.GetUtcNow()));
    }

    [Fact]
    public async Task Metrics_GaugePerLocation_LeavesOutOneWithoutForecast()
    {
        var time = new FakeTimeProvider(Start);
        using var source = new ElectricityMapsSource(_api.Url, "token", TimeSpan.FromSeconds(5));
        var carbon = Carbon(time, source);
        _api.Answer(Path, async context =>
        {
            if (context.Request.Query["zone"] == "DE")
            {
                await context.Response.WriteAsync(Hourly());
            }
            else
            {
                context.Response.StatusCode = 404;
                await context.Response.WriteAsync("""{"status": "error", "message": "Zone does not exist."}""");
            }
        });
        Assert.Null(carbon.Forecast("DE"));
        Assert.Null(carbon.Forecast("XX"));
        await carbon.RefreshDueAsync(CancellationToken.None);

        var buffer = new ArrayBufferWriter<byte>();
        var writer = new PrometheusTextWriter(buffer);
        CarbonMetrics.Render(writer, carbon, time.GetUtcNow());
        var text = Encoding.UTF8.GetString(buffer.WrittenSpan);

        Assert.Contains("gantry_server_carbon_intensity_grams_per_kwh{location=\"DE\"} 300\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("gantry_server_carbon_intensity_grams_per_kwh{location=\"XX\"}", text, StringComparison.Ordinal);
        Assert.Contains("gantry_server_carbon_source_failing{location=\"DE\"} 0\n", text, StringComparison.Ordinal);
        Assert.Contains("gantry_server_carbon_source_failing{location=\"XX\"} 1\n", text, StringComparison.Ordinal);
    }
}
