using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gantry.Server.Alerts.Delivery;

/// <summary>
/// One alert of Alertmanager's <c>POST /api/v2/alerts</c> (its <c>postableAlert</c>):
/// <c>{"labels":{…},"annotations":{…},"startsAt":"…Z","endsAt":"…Z","generatorURL":"…"}</c>.
/// </summary>
internal sealed record PostableAlert
{
    public required IReadOnlyDictionary<string, string> Labels { get; init; }

    public required IReadOnlyDictionary<string, string> Annotations { get; init; }

    public required DateTimeOffset StartsAt { get; init; }

    /// <summary>For a firing alert, when Alertmanager resolves it by itself unless re-sent; for a resolved one, when it resolved.</summary>
    public required DateTimeOffset EndsAt { get; init; }

    [JsonPropertyName("generatorURL")]
    public required string GeneratorUrl { get; init; }
}

/// <summary>
/// Alertmanager's webhook payload, version 4, as Alertmanager's own webhook receiver sends it (field for
/// field), so that a receiver written for Alertmanager reads Gantry's webhooks unchanged.
/// </summary>
internal sealed record WebhookMessage
{
    public string Version { get; init; } = "4";

    /// <summary>Alertmanager's spelling of the group: <c>{}:{alertname="GantryGpuHot"}</c>.</summary>
    public required string GroupKey { get; init; }

    /// <summary>Alerts left out of <see cref="Alerts"/>; Gantry sends them all.</summary>
    public int TruncatedAlerts { get; init; }

    /// <summary><c>firing</c> when any alert of the message fires, else <c>resolved</c>.</summary>
    public required string Status { get; init; }

    public string Receiver { get; init; } = "gantry";

    public required IReadOnlyDictionary<string, string> GroupLabels { get; init; }

    /// <summary>The labels (name and value) every alert of the message has.</summary>
    public required IReadOnlyDictionary<string, string> CommonLabels { get; init; }

    /// <summary>The annotations (name and value) every alert of the message has.</summary>
    public required IReadOnlyDictionary<string, string> CommonAnnotations { get; init; }

    /// <summary>The dashboard's URL.</summary>
    [JsonPropertyName("externalURL")]
    public required string ExternalUrl { get; init; }

    public required IReadOnlyList<WebhookAlert> Alerts { get; init; }
}

/// <summary>One alert of a <see cref="WebhookMessage"/>.</summary>
internal sealed record WebhookAlert
{
    /// <summary><c>firing</c> or <c>resolved</c>.</summary>
    public required string Status { get; init; }

    public required IReadOnlyDictionary<string, string> Labels { get; init; }

    public required IReadOnlyDictionary<string, string> Annotations { get; init; }

    public required DateTimeOffset StartsAt { get; init; }

    /// <summary>When it resolved; <c>0001-01-01T00:00:00Z</c> while it fires, as Alertmanager sends it.</summary>
    public required DateTimeOffset EndsAt { get; init; }

    [JsonPropertyName("generatorURL")]
    public required string GeneratorUrl { get; init; }

    public required string Fingerprint { get; init; }
}

/// <summary>
/// An undelivered notification as stored (alert document of kind <c>notification</c>, its id the
/// outbox's sortable id): where it goes, what it carries and how its delivery went so far.
/// </summary>
internal sealed record OutboxDocument
{
    /// <summary><see cref="AlertDelivery.AlertmanagerKind"/> or <see cref="AlertDelivery.WebhookKind"/>.</summary>
    public required string Kind { get; init; }

    /// <summary>The receiver as configured (<c>--alertmanager</c>, <c>--alert-webhook</c>).</summary>
    public required string Receiver { get; init; }

    /// <summary>The URL the payload is posted to.</summary>
    public required string Url { get; init; }

    /// <summary>Fingerprints of the alerts carried (for coalescing Alertmanager re-sends).</summary>
    public required IReadOnlyList<string> Alerts { get; init; }

    /// <summary>True when the notification only re-sends firing alerts (no start, no resolve): the first dropped when the outbox is full.</summary>
    public bool Resend { get; init; }

    public int Attempts { get; init; }

    public required DateTimeOffset QueuedAt { get; init; }

    public required DateTimeOffset NextAttemptAt { get; init; }

    public string? LastError { get; init; }

    /// <summary>The body posted, as JSON (not a string holding it).</summary>
    public required JsonElement Payload { get; init; }
}

/// <summary>
/// Times as RFC 3339 in UTC with a <c>Z</c> and no trailing zeros in the fraction
/// (<c>2026-01-01T00:00:00Z</c>, <c>2026-01-01T00:00:00.25Z</c>), as Go's <c>time.RFC3339Nano</c> writes them.
/// </summary>
internal sealed class Rfc3339Converter : JsonConverter<DateTimeOffset>
{
    public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        DateTimeOffset.Parse(reader.GetString() ?? throw new JsonException("expected a time"), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture));
    }
}

/// <summary>JSON of alert delivery: Alertmanager's payloads (camelCase, its exact field names) and the stored outbox.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, Converters = [typeof(Rfc3339Converter)])]
[JsonSerializable(typeof(List<PostableAlert>))]
[JsonSerializable(typeof(WebhookMessage))]
[JsonSerializable(typeof(OutboxDocument))]
internal sealed partial class DeliveryJson : JsonSerializerContext;
