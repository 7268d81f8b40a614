using System.Text.Json;
using Gantry.Server.Alerts.Delivery;
using Gantry.Server.Configuration;
using Gantry.Server.Storage.Sqlite;
using Gantry.Testing;
using Microsoft.Data.Sqlite;
using static Gantry.Server.Tests.Alerts.Delivery.DeliveryKit;

namespace Gantry.Server.Tests.Alerts.Delivery;

/// <summary>Webhook delivery to a local receiver: Alertmanager's payload (version 4), the signature, retries and refusals.</summary>
public sealed class WebhookDeliveryTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);

    private readonly string _dir = Directory.CreateTempSubdirectory("gantry-webhook-").FullName;
    private readonly FakeTimeProvider _time = new(Start);
    private readonly SqliteStateStore _store;

    public WebhookDeliveryTests()
    {
        _store = SqliteStateStore.Open(Path.Combine(_dir, "gantry.db"));
    }

    public void Dispose()
    {
        _store.Dispose();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private AlertDelivery Create(WebhookReceiver receiver, string? secret = Secret, Uri? alertmanager = null) =>
        DeliveryKit.Create(
            _store,
            new ServerOptions { AlertWebhooks = [receiver.Url], AlertWebhookSecret = secret, Alertmanagers = alertmanager is null ? [] : [alertmanager], ExternalUrl = "http://gantry.test:7070" },
            _time,
            DeliveryTuning.Default with { FirstRetry = TimeSpan.FromSeconds(10), MaxRetry = TimeSpan.FromMinutes(1) });

    [Fact]
    public async Task Publish_Changes_OneSignedVersion4MessagePerAlertName()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        using var delivery = Create(receiver);
        await using var running = new RunningDelivery(delivery);

        var hot0 = Firing(Start, gpu: "0");
        var hot1 = Resolved(Firing(Start, gpu: "1"), Start);
        var other = Firing(Start, alertname: "GantryNodeDown");
        delivery.Publish([hot0, hot1, other], Start);

        await EventuallyAsync(() => receiver.Received.Count == 2, () => $"two messages ({receiver.Received.Count})");
        await EventuallyAsync(() => delivery.Queued == 0, () => $"the outbox empty ({delivery.Queued})");
        var request = receiver.Received.Single(r => r.Text.Contains("GantryGpuHot", StringComparison.Ordinal));

        Assert.StartsWith("application/json", request.Headers["Content-Type"], StringComparison.Ordinal);
        Assert.StartsWith("Gantry/", request.Headers["User-Agent"], StringComparison.Ordinal);
        var signature = request.Headers[WebhookSignature.HeaderName];
        Assert.Matches("^t=[0-9]+,v1=[0-9a-f]{64}$", signature);
        Assert.True(WebhookSignature.Verify(Secret, signature, request.Body, Start, TimeSpan.FromMinutes(5)));
        Assert.False(WebhookSignature.Verify("another-secret-of-some-length", signature, request.Body, Start, TimeSpan.FromMinutes(5)));
        Assert.False(WebhookSignature.Verify(Secret, signature, request.Body, Start.AddMinutes(6), TimeSpan.FromMinutes(5)));

        using var message = JsonDocument.Parse(request.Body);
        var root = message.RootElement;
        Assert.Equal(
            ["version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels", "commonLabels", "commonAnnotations", "externalURL", "alerts"],
            root.EnumerateObject().Select(p => p.Name));
        Assert.Equal("4", root.GetProperty("version").GetString());
        Assert.Equal("{}:{alertname=\"GantryGpuHot\"}", root.GetProperty("groupKey").GetString());
        Assert.Equal(0, root.GetProperty("truncatedAlerts").GetInt32());
        Assert.Equal("firing", root.GetProperty("status").GetString());
        Assert.Equal("gantry", root.GetProperty("receiver").GetString());
        Assert.Equal(new Dictionary<string, string> { ["alertname"] = "GantryGpuHot" }, root.GetProperty("groupLabels").Deserialize<Dictionary<string, string>>());
        Assert.Equal(
            new Dictionary<string, string> { ["alertname"] = "GantryGpuHot", ["node"] = "n1", ["severity"] = "warning" },
            root.GetProperty("commonLabels").Deserialize<Dictionary<string, string>>());
        Assert.Equal(new Dictionary<string, string> { ["runbook"] = "https://example.test/hot" }, root.GetProperty("commonAnnotations").Deserialize<Dictionary<string, string>>());
        Assert.Equal("http://gantry.test:7070", root.GetProperty("externalURL").GetString());

        var alerts = root.GetProperty("alerts");
        Assert.Equal(2, alerts.GetArrayLength());
        var first = alerts[0];
        Assert.Equal(["status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"], first.EnumerateObject().Select(p => p.Name));
        Assert.Equal("firing", first.GetProperty("status").GetString());
        Assert.Equal("0", first.GetProperty("labels").GetProperty("gpu").GetString());
        Assert.Equal("GPU 0 on n1 is hot", first.GetProperty("annotations").GetProperty("summary").GetString());
        Assert.Equal("2026-12-02T11:58:00Z", first.GetProperty("startsAt").GetString());
        Assert.Equal("0001-01-01T00:00:00Z", first.GetProperty("endsAt").GetString());
        Assert.Equal("http://gantry.test:7070/alerts/GantryGpuHot", first.GetProperty("generatorURL").GetString());
        Assert.Equal(hot0.Fingerprint, first.GetProperty("fingerprint").GetString());
        var second = alerts[1];
        Assert.Equal("resolved", second.GetProperty("status").GetString());
        Assert.Equal("2026-12-02T12:00:00Z", second.GetProperty("endsAt").GetString());
        Assert.Equal(hot1.Fingerprint, second.GetProperty("fingerprint").GetString());

        var down = JsonDocument.Parse(receiver.Received.Single(r => r != request).Body).RootElement;
        Assert.Equal("{}:{alertname=\"GantryNodeDown\"}", down.GetProperty("groupKey").GetString());
        Assert.Equal(2, delivery.Sent);
        Assert.Empty(Notifications(_store));
    }

    [Fact]
    public async Task Publish_NoSecret_SentUnsigned()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        using var delivery = Create(receiver, secret: null);
        await using var running = new RunningDelivery(delivery);

        delivery.Publish([Firing(Start)], Start);

        await EventuallyAsync(() => receiver.Received.Count == 1, () => "the message");
        Assert.False(receiver.Received[0].Headers.ContainsKey(WebhookSignature.HeaderName));
    }

    [Fact]
    public async Task Send_503ThenOk_RetriedAfterBackoffAndSignedAfresh()
    {
        await using var receiver = await WebhookReceiver.StartAsync(503);
        using var delivery = Create(receiver);
        await using var running = new RunningDelivery(delivery);

        delivery.Publish([Firing(Start)], Start);
        await EventuallyAsync(() => delivery.Failed == 1, () => "the first attempt to fail");
        Assert.Single(receiver.Received);
        Assert.Equal(1, delivery.Queued);
        Assert.Equal("HTTP 503 Service Unavailable", delivery.LastErrors[receiver.Url.AbsoluteUri]);
        var stored = Assert.Single(Notifications(_store)).Document;
        Assert.Equal(1, stored.Attempts);
        Assert.Equal(AlertDelivery.WebhookKind, stored.Kind);
        // The first retry waits the upper half of 10 s (jitter), on the fake clock.
        Assert.InRange(stored.NextAttemptAt, Start.AddSeconds(5), Start.AddSeconds(10));

        // Short of the retry nothing is sent again.
        _time.Advance(TimeSpan.FromSeconds(4));
        await Task.Delay(300);
        Assert.Single(receiver.Received);

        await EventuallyAsync(() => receiver.Received.Count == 2, () => "the retry", between: () => _time.Advance(TimeSpan.FromSeconds(1)));
        await EventuallyAsync(() => delivery.Queued == 0, () => "the outbox empty");
        Assert.Equal(1, delivery.Sent);
        Assert.Equal(0, delivery.Dropped);
        Assert.Empty(delivery.LastErrors);
        Assert.Empty(Notifications(_store));
        Assert.Equal(receiver.Received[0].Text, receiver.Received[1].Text);
        var retried = receiver.Received[1].Headers[WebhookSignature.HeaderName];
        Assert.NotEqual(receiver.Received[0].Headers[WebhookSignature.HeaderName], retried);
        Assert.True(WebhookSignature.Verify(Secret, retried, receiver.Received[1].Body, _time.GetUtcNow(), TimeSpan.FromMinutes(1)));
    }

    [Fact]
    public async Task Send_400_DroppedAndNotRetried()
    {
        await using var receiver = await WebhookReceiver.StartAsync(400);
        using var delivery = Create(receiver);
        await using var running = new RunningDelivery(delivery);

        delivery.Publish([Firing(Start)], Start);
        await EventuallyAsync(() => delivery.Dropped == 1, () => "the refusal");

        for (var i = 0; i < 10; i++)
        {
            _time.Advance(TimeSpan.FromMinutes(1));
            await Task.Delay(30);
        }

        Assert.Single(receiver.Received);
        Assert.Equal(0, delivery.Queued);
        Assert.Equal(0, delivery.Failed);
        Assert.Equal(0, delivery.Sent);
        Assert.Equal("HTTP 400 Bad Request: cannot read this payload", delivery.LastErrors[receiver.Url.AbsoluteUri]);
        Assert.Empty(Notifications(_store));
    }

    [Fact]
    public async Task Publish_Resend_NotSentToWebhooks()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var closed = new Uri($"http://127.0.0.1:{Tools.FreePort()}");
        using var delivery = Create(receiver, alertmanager: closed);

        delivery.Publish([Firing(Start, changed: false)], Start);

        // Only Alertmanager's entry: the re-send of a firing alert is no change for a webhook.
        var stored = Assert.Single(Notifications(_store)).Document;
        Assert.Equal(AlertDelivery.AlertmanagerKind, stored.Kind);
        Assert.True(stored.Resend);
        Assert.Equal(1, delivery.Queued);
    }
}
