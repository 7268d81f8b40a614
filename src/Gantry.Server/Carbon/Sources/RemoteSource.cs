using System.Globalization;
using System.Net;
using System.Reflection;
using System.Text.Json;
using Gantry.Core.Carbon;
using Gantry.Core.Text;

namespace Gantry.Server.Carbon.Sources;

/// <summary>
/// What the HTTP sources share: one <see cref="HttpClient"/> with <c>--carbon-timeout</c> on every request,
/// and failures turned into <see cref="CarbonSourceException"/>s that say what happened (unreachable, timed
/// out, an error status with the API's own message, a body that is not the documented JSON).
/// </summary>
internal abstract class RemoteSource : ICarbonSource, IDisposable
{
    private const int MaxErrorBodyChars = 300;
    private static readonly string UserAgent = "gantry/" + (typeof(RemoteSource).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "dev");

    /// <summary>A source at <paramref name="baseUrl"/> (ending in '/'); <paramref name="handler"/> is not disposed here.</summary>
    protected RemoteSource(Uri baseUrl, TimeSpan timeout, HttpMessageHandler? handler)
    {
        ArgumentNullException.ThrowIfNull(baseUrl);
        BaseUrl = baseUrl;
        Timeout = timeout;
        Http = handler is null
            ? new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) }, disposeHandler: true)
            : new HttpClient(handler, disposeHandler: false);
        Http.Timeout = timeout;
        Http.DefaultRequestHeaders.TryAddWithoutValidation("User-Agent", UserAgent);
    }

    public bool Local => false;

    protected Uri BaseUrl { get; }

    protected TimeSpan Timeout { get; }

    protected HttpClient Http { get; }

    public abstract Task<CarbonForecast> FetchAsync(string location, DateTimeOffset now, CancellationToken cancellationToken);

    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (disposing)
        {
            Http.Dispose();
        }
    }

    /// <summary>
    /// Sends <paramref name="request"/> and returns the status and the body (read within the timeout).
    /// Unreachable and timed out become <see cref="CarbonSourceException"/>s; a status is the caller's to judge.
    /// </summary>
    protected async Task<(HttpStatusCode Status, byte[] Body)> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var what = Describe(request.RequestUri!);
        try
        {
            using var response = await Http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
            var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
            return (response.StatusCode, body);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new CarbonSourceException($"{what} did not answer within {Durations.Format(Timeout)}", ex);
        }
        catch (HttpRequestException ex)
        {
            throw new CarbonSourceException($"cannot reach {what}: {ex.Message}", ex);
        }
    }

    /// <summary>The exception for an unexpected status: the API's own message where its error body has one.</summary>
    protected static CarbonSourceException StatusError(HttpRequestMessage request, HttpStatusCode status, byte[] body, string? hint = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        var message = ErrorMessage(body);
        var text = $"{Describe(request.RequestUri!)} answered {(int)status} {ReasonOf(status)}";
        if (message is not null)
        {
            text += ": " + message;
        }

        return new CarbonSourceException(hint is null ? text : $"{text} ({hint})");
    }

    /// <summary>Parses a 2xx body; a body that is not JSON (or not the shape <paramref name="read"/> wants) is a <see cref="CarbonSourceException"/>.</summary>
    protected static T ParseBody<T>(HttpRequestMessage request, byte[] body, Func<JsonElement, T> read)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(read);
        try
        {
            using var document = JsonDocument.Parse(body);
            return read(document.RootElement);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException or KeyNotFoundException)
        {
            throw new CarbonSourceException($"{Describe(request.RequestUri!)} answered a body that is not the documented JSON: {ex.Message}", ex);
        }
    }

    /// <summary>A property that must be there; a <see cref="FormatException"/> naming it otherwise.</summary>
    protected static JsonElement Required(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null
            ? value
            : throw new FormatException($"expected a property \"{name}\"");

    /// <summary>An ISO 8601 time.</summary>
    protected static DateTimeOffset Time(JsonElement element, string name)
    {
        var value = Required(element, name);
        return value.ValueKind == JsonValueKind.String && DateTimeOffset.TryParse(value.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time)
            ? time
            : throw new FormatException($"\"{name}\" is not an ISO 8601 time: {value.GetRawText()}");
    }

    /// <summary>A finite number, zero or more.</summary>
    protected static double Number(JsonElement element, string name)
    {
        var value = Required(element, name);
        return value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var number) && double.IsFinite(number) && number >= 0
            ? number
            : throw new FormatException($"\"{name}\" is not a number of zero or more: {value.GetRawText()}");
    }

    /// <summary>
    /// Points in time order (sorted here; a time given twice keeps its first figure) as a forecast; none at all
    /// is a <see cref="CarbonSourceException"/>, since a location the source knows nothing about is a failure.
    /// </summary>
    protected static CarbonForecast Forecast(HttpRequestMessage request, string location, List<IntensityPoint> points, TimeSpan? resolution, DateTimeOffset generatedAt)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(points);
        if (points.Count == 0)
        {
            throw new CarbonSourceException($"{Describe(request.RequestUri!)} answered no forecast points for {location}");
        }

        points.Sort(static (a, b) => a.Time.CompareTo(b.Time));
        var distinct = new List<IntensityPoint>(points.Count) { points[0] };
        var step = TimeSpan.MaxValue;
        for (var i = 1; i < points.Count; i++)
        {
            var gap = points[i].Time - distinct[^1].Time;
            if (gap > TimeSpan.Zero)
            {
                distinct.Add(points[i]);
                step = gap < step ? gap : step;
            }
        }

        var holds = resolution is { } r && r > TimeSpan.Zero ? r : step == TimeSpan.MaxValue ? TimeSpan.FromHours(1) : step;
        return new CarbonForecast(location, distinct, holds, generatedAt);
    }

    /// <summary>The request's URL without its query (which holds nothing secret, but is long).</summary>
    protected static string Describe(Uri url) => url.GetLeftPart(UriPartial.Path);

    private static string ReasonOf(HttpStatusCode status) =>
        Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase((int)status);

    // The error bodies the APIs document: Carbon Aware SDK's problem details (title, detail, errors),
    // WattTime's {"error"|"message"}, Electricity Maps' {"status":"error","message"} or {"error"}.
    private static string? ErrorMessage(byte[] body)
    {
        if (body.Length == 0)
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                var parts = new List<string>();
                foreach (var name in new[] { "title", "detail", "message", "error" })
                {
                    if (root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } text && !parts.Contains(text))
                    {
                        parts.Add(text);
                    }
                }

                if (root.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Object)
                {
                    foreach (var field in errors.EnumerateObject())
                    {
                        parts.Add($"{field.Name}: {(field.Value.ValueKind == JsonValueKind.Array ? string.Join(" ", field.Value.EnumerateArray().Select(e => e.ToString())) : field.Value.ToString())}");
                    }
                }

                if (parts.Count > 0)
                {
                    return Clip(string.Join("; ", parts));
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON: the text itself, clipped, says the most.
        }

        var raw = System.Text.Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, MaxErrorBodyChars * 4)).Trim();
        return raw.Length == 0 ? null : Clip(raw.ReplaceLineEndings(" "));
    }

    private static string Clip(string text) => text.Length <= MaxErrorBodyChars ? text : text[..MaxErrorBodyChars] + "…";
}
