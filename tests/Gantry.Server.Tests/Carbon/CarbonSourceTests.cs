using Gantry.Server.Carbon;
using Gantry.Server.Carbon.Sources;
using Gantry.Testing;
using Microsoft.AspNetCore.Http;

namespace Gantry.Server.Tests.Carbon;

/// <summary>Each remote source against a local fake of its API: the documented JSON shapes, error statuses, malformed bodies and timeouts.</summary>
public sealed class CarbonSourceTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 0, 20, 0, TimeSpan.Zero);
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);
    private FakeCarbonApi _api = null!;

    public async Task InitializeAsync() => _api = await FakeCarbonApi.StartAsync();

    public async Task DisposeAsync() => await _api.DisposeAsync();

    // --- Carbon Aware SDK ---

    private const string SdkForecast = """
        [{
          "generatedAt": "2026-01-01T00:15:00+00:00",
          "requestedAt": "2026-01-01T00:20:00+00:00",
          "location": "eastus",
          "dataStartAt": "2026-01-01T00:00:00+00:00",
          "dataEndAt": "2026-01-02T00:20:00+00:00",
          "windowSize": 5,
          "optimalDataPoints": [{ "location": "eastus", "timestamp": "2026-01-01T00:10:00+00:00", "duration": 5, "value": 320.25 }],
          "forecastData": [
            { "location": "eastus", "timestamp": "2026-01-01T00:05:00+00:00", "duration": 5, "value": 350.5 },
            { "location": "eastus", "timestamp": "2026-01-01T00:00:00+00:00", "duration": 5, "value": 360 },
            { "location": "eastus", "timestamp": "2026-01-01T00:10:00+00:00", "duration": 5, "value": 320.25 },
            { "location": "eastus", "timestamp": "2026-01-01T00:15:00+00:00", "duration": 5, "value": 330 },
            { "location": "eastus", "timestamp": "2026-01-01T00:20:00+00:00", "duration": 5, "value": 340 }
          ]
        }]
        """;

    [Fact]
    public async Task CarbonAwareSdk_DocumentedForecast_GivesItsPointsInOrder()
    {
        _api.Answer("/emissions/forecasts/current", 200, SdkForecast);
        using var source = new CarbonAwareSdkSource(_api.Url, TimeSpan.FromHours(24), Timeout);

        var forecast = await source.FetchAsync("eastus", Now, CancellationToken.None);

        Assert.Equal("eastus", forecast.Location);
        Assert.Equal(TimeSpan.FromMinutes(5), forecast.Resolution);
        Assert.Equal(new DateTimeOffset(2026, 1, 1, 0, 15, 0, TimeSpan.Zero), forecast.GeneratedAt);
        Assert.Equal([360, 350.5, 320.25, 330, 340], forecast.Points.ToArray().Select(p => p.GramsPerKwh));
        Assert.Equal(340, forecast.IntensityAt(Now));
        var request = Assert.Single(_api.Requests);
        Assert.Equal("eastus", request.Query["location"]);
        Assert.Equal("2026-01-01T00:00:00Z", request.Query["dataStartAt"]);
        Assert.Equal("2026-01-02T00:20:00Z", request.Query["dataEndAt"]);
        Assert.False(request.Query.ContainsKey("windowSize"));
    }

    [Fact]
    public async Task CarbonAwareSdk_ValidationProblem_SaysWhatTheSdkSaid()
    {
        _api.Answer("/emissions/forecasts/current", 400, """
            {"type":"https://tools.ietf.org/html/rfc7231#section-6.5.1","title":"One or more validation errors occurred.","status":400,
             "errors":{"location":["The location field is required."]}}
            """);
        using var source = new CarbonAwareSdkSource(_api.Url, TimeSpan.FromHours(24), Timeout);

        var error = await Assert.ThrowsAsync<CarbonSourceException>(() => source.FetchAsync("nowhere", Now, CancellationToken.None));

        Assert.Contains("answered 400 Bad Request", error.Message, StringComparison.Ordinal);
        Assert.Contains("location: The location field is required.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CarbonAwareSdk_ServerError_GivesTheProblemDetail()
    {
        _api.Answer("/emissions/forecasts/current", 500, """{"type":"about:blank","title":"LocationNotFoundException","status":500,"detail":"Location 'mars' not found"}""");
        using var source = new CarbonAwareSdkSource(_api.Url, TimeSpan.FromHours(24), Timeout);

        var error = await Assert.ThrowsAsync<CarbonSourceException>(() => source.FetchAsync("mars", Now, CancellationToken.None));

        Assert.Contains("500 Internal Server Error: LocationNotFoundException; Location 'mars' not found", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"forecastData\": []}", "not the documented JSON: expected an array of forecasts")]
    [InlineData("[{\"location\": \"eastus\"}]", "expected a property \"forecastData\"")]
    [InlineData("[{\"forecastData\": [{\"timestamp\": \"yesterday\", \"value\": 1}]}]", "\"timestamp\" is not an ISO 8601 time")]
    [InlineData("[{\"forecastData\": [{\"timestamp\": \"2026-01-01T00:00:00Z\", \"value\": \"high\"}]}]", "\"value\" is not a number")]
    [InlineData("[{\"forecastData\": []}]", "no forecast points for eastus")]
    [InlineData("<html>oops</html>", "not the documented JSON")]
    public async Task CarbonAwareSdk_MalformedBody_IsAFailureThatSaysWhy(string body, string expected)
    {
        _api.Answer("/emissions/forecasts/current", 200, body);
        using var source = new CarbonAwareSdkSource(_api.Url, TimeSpan.FromHours(24), Timeout);

        var error = await Assert.ThrowsAsync<CarbonSourceException>(() => source.FetchAsync("eastus", Now, CancellationToken.None));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CarbonAwareSdk_NoAnswerInTime_TimesOut()
    {
        _api.Hang("/emissions/forecasts/current", TimeSpan.FromSeconds(30));
        using var source = new CarbonAwareSdkSource(_api.Url, TimeSpan.FromHours(24), TimeSpan.FromMilliseconds(300));

        var error = await Assert.ThrowsAsync<CarbonSourceException>(() => source.FetchAsync("eastus", Now, CancellationToken.None));

        Assert.Contains("did not answer within 300ms", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnySource_Unreachable_SaysItCannotReachIt()
    {
        var url = _api.Url;
        await _api.DisposeAsync();
        _api = await FakeCarbonApi.StartAsync();
        using var source = new CarbonAwareSdkSource(url, TimeSpan.FromHours(24), Timeout);

        var error = await Assert.ThrowsAsync<CarbonSourceException>(() => source.FetchAsync("eastus", Now, CancellationToken.None));

        Assert.StartsWith("cannot reach " + url + "emissions/forecasts/current", error.Message, StringComparison.Ordinal);
    }

    // --- WattTime v3 ---

    private const string WattTimeForecast = """
        {
          "data": [
            { "point_time": "2026-01-01T00:15:00+00:00", "value": 1000.0, "version": "3.2-2026-01-01" },
            { "point_time": "2026-01-01T00:20:00+00:00", "value": 500.0, "version": "3.2-2026-01-01" },
            { "point_time": "2026-01-01T00:25:00+00:00", "value": 0.0, "version": "3.2-2026-01-01" }
          ],
          "meta": {
            "data_point_period_seconds": 300,
            "region": "CAISO_NORTH",
            "warnings": [],
            "signal_type": "co2_moer",
            "model": { "date": "2026-01-01" },
            "units": "lbs_co2_per_mwh",
            "generated_at_period_seconds": 300,
            "generated_at": "2026-01-01T00:15:00+00:00"
          }
        }
        """;

    private WattTimeSource WattTime(TimeProvider? time = null, TimeSpan? timeout = null) =>
        new(_api.Url, "gantry", "s3cret pass", TimeSpan.FromHours(24), timeout ?? Timeout, time ?? new FakeTimeProvider(Now));

    [Fact]
    public async Task WattTime_LoginThenForecast_ConvertsPoundsPerMwhToGramsPerKwh()
    {
        _api.Answer("/login", 200, """{"token": "tok-1"}""");
        _api.Answer("/v3/forecast", 200, WattTimeForecast);
        using var source = WattTime();

        var forecast = await source.FetchAsync("CAISO_NORTH", Now, CancellationToken.None);

        Assert.Equal(TimeSpan.FromMinutes(5), forecast.Resolution);
        Assert.Equal(453.59237, forecast.Points[0].GramsPerKwh, 6);
        Assert.Equal(226.796185, forecast.IntensityAt(Now)!.Value, 6);
        Assert.Equal(0, forecast.Points[2].GramsPerKwh);
        var login = _api.Requests[0];
        Assert.Equal("/login", login.Path);
        Assert.Equal("Basic " + Convert.ToBase64String("gantry:s3cret pass"u8.ToArray()), login.Headers["Authorization"]);
        var fetch = _api.Requests[1];
        Assert.Equal("Bearer tok-1", fetch.Headers["Authorization"]);
        Assert.Equal("CAISO_NORTH", fetch.Query["region"]);
        Assert.Equal("co2_moer", fetch.Query["signal_type"]);
        Assert.Equal("24", fetch.Query["horizon_hours"]);
    }

    [Fact]
    public async Task WattTime_TokenKept_ThenRenewedWhenOldOrRefused()
    {
        var time = new FakeTimeProvider(Now);
        var logins = 0;
        _api.Answer("/login", async context =>
        {
            logins++;
            await context.Response.WriteAsync($$"""{"token": "tok-{{logins}}"}""");
        });
        _api.Answer("/v3/forecast", 200, WattTimeForecast);
        using var source = WattTime(time);

        await source.FetchAsync("CAISO_NORTH", Now, CancellationToken.None);
        await source.FetchAsync("CAISO_NORTH", Now, CancellationToken.None);
        Assert.Equal(1, logins);

        time.Advance(TimeSpan.FromMinutes(26));
        await source.FetchAsync("CAISO_NORTH", Now, CancellationToken.None);
        Assert.Equal(2, logins);

        // A token refused before its time: one more login, then the forecast.
        _api.Answer("/v3/forecast", context => context.Request.Headers.Authorization == "Bearer tok-3"
            ? context.Response.WriteAsync(WattTimeForecast)
            : WriteStatus(context, 401, """{"error": "Unauthorized", "message": "token expired"}"""));
        var forecast = await source.FetchAsync("CAISO_NORTH", Now, CancellationToken.None);
        Assert.Equal(3, logins);
        Assert.Equal(3, forecast.Points.Length);
    }

    [Fact]
    public async Task WattTime_LoginRefused_SaysToCheckTheCredentials()
    {
        _api.Answer("/login", 401, """{"error": "Unauthorized"}""");
        using var source = WattTime();

        var error = await Assert.ThrowsAsync<CarbonSourceException>(() => source.FetchAsync("CAISO_NORTH", Now, CancellationToken.None));

        Assert.Contains("login answered 401 Unauthorized: Unauthorized (login refused: check --carbon-user", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WattTime_RegionNotInPlan_GivesWattTimesMessage()
    {
        _api.Answer("/login", 200, """{"token": "tok"}""");
        _api.Answer("/v3/forecast", 403, """{"error": "Forbidden", "message": "Your plan does not include region DE"}""");
        using var source = WattTime();

        var error = await Assert.ThrowsAsync<CarbonSourceException>(() => source.FetchAsync("DE", Now, CancellationToken.None));

        Assert.Contains("403 Forbidden: Your plan does not include region DE; Forbidden", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"token": ""}""", "/login", "\"token\" is empty")]
    [InlineData("""{"jwt": "x"}""", "/login", "expected a property \"token\"")]
    [InlineData("""{"meta": {"units": "lbs_co2_per_mwh"}}""", "/v3/forecast", "expected a property \"data\"")]
    [InlineData("""{"data": [{"point_time": "2026-01-01T00:00:00Z", "value": 1}], "meta": {"units": "furlongs"}}""", "/v3/forecast", "unknown units \"furlongs\"")]
    [InlineData("""{"data": [{"point_time": "2026-01-01T00:00:00Z", "value": -5}]}""", "/v3/forecast", "\"value\" is not a number of zero or more")]
    public async Task WattTime_MalformedBody_IsAFailureThatSaysWhy(string body, string path, string expected)
    {
        _api.Answer("/login", 200, """{"token": "tok"}""");
        _api.Answer("/v3/forecast", 200, WattTimeForecast);
        _api.Answer(path, 200, body);
        using var source = WattTime();

        var error = await Assert.ThrowsAsync<CarbonSourceException>(() => source.FetchAsync("CAISO_NORTH", Now, CancellationToken.None));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WattTime_ForecastHangs_TimesOut()
    {
        _api.Answer("/login", 200, """{"token": "tok"}""");
        _api.Hang("/v3/forecast", TimeSpan.FromSeconds(30));
        using var source = WattTime(timeout: TimeSpan.FromMilliseconds(300));

        var error = await Assert.ThrowsAsync<CarbonSourceException>(() => source.FetchAsync("CAISO_NORTH", Now, CancellationToken.None));

        Assert.Contains("/v3/forecast did not answer within 300ms", error.Message, StringComparison.Ordinal);
    }

    // --- Electricity Maps ---

    private const string EmForecast = """
        {
          "zone": "DE",
          "forecast": [
            { "carbonIntensity": 326, "datetime": "2026-01-01T00:00:00.000Z" },
            { "carbonIntensity": 320, "datetime": "2026-01-01T01:00:00.000Z" },
            { "carbonIntensity": 301, "datetime": "2026-01-01T02:00:00.000Z" }
          ],
          "updatedAt": "2025-12-31T23:47:47.226Z"
        }
        """;

    [Fact]
    public async Task ElectricityMaps_DocumentedForecast_IsHourlyWithTheToken()
    {
        _api.Answer("/v3/carbon-intensity/forecast", 200, EmForecast);
        using var source = new ElectricityMapsSource(_api.Url, "em-token", Timeout);

        var forecast = await source.FetchAsync("DE", Now, CancellationToken.None);

        Assert.Equal(TimeSpan.FromHours(1), forecast.Resolution);
        Assert.Equal(326, forecast.IntensityAt(Now));
        Assert.Equal(301, forecast.IntensityAt(Now.AddHours(2)));
        Assert.Null(forecast.IntensityAt(Now.AddHours(3)));
        var request = Assert.Single(_api.Requests);
        Assert.Equal("em-token", request.Headers["auth-token"]);
        Assert.Equal("DE", request.Query["zone"]);
    }

    [Fact]
    public async Task ElectricityMaps_DataArray_IsReadToo()
    {
        _api.Answer("/v3/carbon-intensity/forecast", 200, """{"zone": "FR", "data": [{"carbonIntensity": 40, "datetime": "2026-01-01T00:00:00Z"}]}""");
        using var source = new ElectricityMapsSource(_api.Url, "em-token", Timeout);

        var forecast = await source.FetchAsync("FR", Now, CancellationToken.None);

        Assert.Equal(40, forecast.IntensityAt(Now));
    }

    [Theory]
    [InlineData(401, """{"status": "error", "message": "Invalid authentication token"}""", "401 Unauthorized: Invalid authentication token (check the token")]
    [InlineData(404, """{"status": "error", "message": "Zone 'XX' does not exist."}""", "404 Not Found: Zone 'XX' does not exist. (is 'XX' an Electricity Maps zone?)")]
    [InlineData(429, """{"error": "Too many requests"}""", "429 Too Many Requests: Too many requests")]
    [InlineData(502, "<html><body>Bad gateway</body></html>", "502 Bad Gateway: <html><body>Bad gateway</body></html>")]
    public async Task ElectricityMaps_ErrorStatus_GivesItsMessage(int status, string body, string expected)
    {
        _api.Answer("/v3/carbon-intensity/forecast", status, body);
        using var source = new ElectricityMapsSource(_api.Url, "em-token", Timeout);

        var error = await Assert.ThrowsAsync<CarbonSourceException>(() => source.FetchAsync("XX", Now, CancellationToken.None));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("em-token", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"zone": "DE"}""", "expected a property \"data\"")]
    [InlineData("""{"forecast": {"carbonIntensity": 1}}""", "\"forecast\" is not an array")]
    [InlineData("""{"forecast": [{"carbonIntensity": 1}]}""", "expected a property \"datetime\"")]
    [InlineData("""{"forecast": [""", "not the documented JSON")]
    public async Task ElectricityMaps_MalformedBody_IsAFailureThatSaysWhy(string body, string expected)
    {
        _api.Answer("/v3/carbon-intensity/forecast", 200, body);
        using var source = new ElectricityMapsSource(_api.Url, "em-token", Timeout);

        var error = await Assert.ThrowsAsync<CarbonSourceException>(() => source.FetchAsync("DE", Now, CancellationToken.None));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ElectricityMaps_NoAnswerInTime_TimesOut()
    {
        _api.Hang("/v3/carbon-intensity/forecast", TimeSpan.FromSeconds(30));
        using var source = new ElectricityMapsSource(_api.Url, "em-token", TimeSpan.FromMilliseconds(300));

        var error = await Assert.ThrowsAsync<CarbonSourceException>(() => source.FetchAsync("DE", Now, CancellationToken.None));

        Assert.Contains("did not answer within 300ms", error.Message, StringComparison.Ordinal);
    }

    private static async Task WriteStatus(Microsoft.AspNetCore.Http.HttpContext context, int status, string body)
    {
        context.Response.StatusCode = status;
        await context.Response.WriteAsync(body);
    }
}
