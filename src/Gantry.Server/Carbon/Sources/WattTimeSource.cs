using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Gantry.Core.Carbon;

namespace Gantry.Server.Carbon.Sources;

/// <summary>
/// <c>watttime:URL</c>: WattTime's v3 API. <c>GET /login</c> with HTTP basic auth answers <c>{"token"}</c>,
/// good for 30 minutes (kept 25, and asked again after a 401); <c>GET /v3/forecast?region=R&amp;signal_type=co2_moer</c>
/// with the bearer token answers <c>{"data": [{"point_time", "value"}], "meta": {"data_point_period_seconds",
/// "units", "generated_at", …}}</c>. Values in <c>lbs_co2_per_mwh</c> (the documented unit, also assumed when
/// <c>units</c> is missing) are converted to g/kWh: 1 lb = 453.59237 g and 1 MWh = 1000 kWh, so × 0.45359237.
/// </summary>
internal sealed class WattTimeSource : RemoteSource
{
    /// <summary>Grams per kWh in one lb per MWh.</summary>
    public const double GramsPerKwhPerLbsPerMwh = 0.45359237;

    private static readonly TimeSpan TokenKeptFor = TimeSpan.FromMinutes(25);
    private readonly string _basic;
    private readonly TimeSpan _horizon;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _login = new(1, 1);
    private (string Token, DateTimeOffset At)? _token;

    public WattTimeSource(Uri baseUrl, string user, string password, TimeSpan horizon, TimeSpan timeout, TimeProvider time, HttpMessageHandler? handler = null)
        : base(baseUrl, timeout, handler)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(password);
        _basic = Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + password));
        _horizon = horizon;
        _time = time;
    }

    public override async Task<CarbonForecast> FetchAsync(string location, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var token = await TokenAsync(renew: false, cancellationToken).ConfigureAwait(false);
        var (request, status, body) = await ForecastAsync(location, token, cancellationToken).ConfigureAwait(false);
        if (status == HttpStatusCode.Unauthorized)
        {
            // The token ran out early (or was revoked): log in once more.
            request.Dispose();
            token = await TokenAsync(renew: true, cancellationToken).ConfigureAwait(false);
            (request, status, body) = await ForecastAsync(location, token, cancellationToken).ConfigureAwait(false);
        }

        using (request)
        {
            if (status != HttpStatusCode.OK)
            {
                throw StatusError(request, status, body, status switch
                {
                    HttpStatusCode.Forbidden => $"does the WattTime plan cover region '{location}'?",
                    HttpStatusCode.BadRequest => $"is '{location}' a WattTime region?",
                    _ => null,
                });
            }

            return ParseBody(request, body, root =>
            {
                var meta = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("meta", out var m) && m.ValueKind == JsonValueKind.Object ? m : default;
                var units = meta.ValueKind == JsonValueKind.Object && meta.TryGetProperty("units", out var u) && u.ValueKind == JsonValueKind.String ? u.GetString() : null;
                var factor = units is null or "lbs_co2_per_mwh"
                    ? GramsPerKwhPerLbsPerMwh
                    : throw new FormatException($"unknown units \"{units}\" (expected lbs_co2_per_mwh)");
                TimeSpan? period = meta.ValueKind == JsonValueKind.Object && meta.TryGetProperty("data_point_period_seconds", out var p) && p.ValueKind == JsonValueKind.Number && p.TryGetDouble(out var seconds) && seconds > 0
                    ? TimeSpan.FromSeconds(seconds)
                    : null;
                var generatedAt = meta.ValueKind == JsonValueKind.Object && meta.TryGetProperty("generated_at", out var g) && g.ValueKind == JsonValueKind.String ? Time(meta, "generated_at") : now;
                var data = Required(root, "data");
                if (data.ValueKind != JsonValueKind.Array)
                {
                    throw new FormatException("\"data\" is not an array");
                }

                var points = new List<IntensityPoint>();
                foreach (var point in data.EnumerateArray())
                {
                    points.Add(new IntensityPoint(Time(point, "point_time"), Number(point, "value") * factor));
                }

                return Forecast(request, location, points, period, generatedAt);
            });
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _login.Dispose();
        }

        base.Dispose(disposing);
    }

    private async Task<(HttpRequestMessage Request, HttpStatusCode Status, byte[] Body)> ForecastAsync(string location, string token, CancellationToken cancellationToken)
    {
        var hours = Math.Clamp((int)Math.Ceiling(_horizon.TotalHours), 1, 72);
        var request = new HttpRequestMessage(HttpMethod.Get, new Uri(BaseUrl, string.Create(CultureInfo.InvariantCulture, $"v3/forecast?region={Uri.EscapeDataString(location)}&signal_type=co2_moer&horizon_hours={hours}")));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        request.Headers.Accept.ParseAdd("application/json");
        try
        {
            var (status, body) = await SendAsync(request, cancellationToken).ConfigureAwait(false);
            return (request, status, body);
        }
        catch
        {
            request.Dispose();
            throw;
        }
    }

    private async Task<string> TokenAsync(bool renew, CancellationToken cancellationToken)
    {
        await _login.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var now = _time.GetUtcNow();
            if (!renew && _token is { } kept && now - kept.At < TokenKeptFor)
            {
                return kept.Token;
            }

            _token = null;
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(BaseUrl, "login"));
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", _basic);
            var (status, body) = await SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (status != HttpStatusCode.OK)
            {
                throw StatusError(request, status, body, status is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden ? "login refused: check --carbon-user and the password in --carbon-secret-file or GANTRY_CARBON_SECRET" : null);
            }

            var token = ParseBody(request, body, root => Required(root, "token").GetString() is { Length: > 0 } t ? t : throw new FormatException("\"token\" is empty"));
            _token = (token, now);
            return token;
        }
        finally
        {
            _login.Release();
        }
    }
}
