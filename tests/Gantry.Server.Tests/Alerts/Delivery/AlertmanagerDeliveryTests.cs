using System.Text.Json;
using Gantry.Server.Alerts.Delivery;
using Gantry.Server.Configuration;
using Gantry.Server.Storage.Sqlite;
using Gantry.Testing;
using Microsoft.Data.Sqlite;
using static Gantry.Server.Tests.Alerts.Delivery.DeliveryKit;

namespace Gantry.Server.Tests.Alerts.Delivery;

/// <summary>Delivery to a real Alertmanager 0.25 (<see cref="Alertmanager"/>), over a real SQLite store.</summary>
public sealed class AlertmanagerDeliveryTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gantry-delivery-").FullName;

    private string DatabasePath => Path.Combine(_dir, "gantry.db");

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Publish_FiringThenResolved_AlertmanagerHoldsTheAlertThenNotifiesItsResolve()
    {
        // Alertmanager notifies amHook with its own webhook payload; ourHook gets Gantry's, to compare the two.
        await using var amHook = await WebhookReceiver.StartAsync();
        await using var ourHook = await WebhookReceiver.StartAsync();
        await using var alertmanager = await Alertmanager.StartAsync(webhook: amHook.Url);
        using var store = SqliteStateStore.Open(DatabasePath);
        var options = new ServerOptions { Alertmanagers = [alertmanager.Url], AlertWebhooks = [ourHook.Url], ExternalUrl = "http://gantry.test:7070" };
        using var delivery = Create(store, options, TimeProvider.System);
        await using var running = new RunningDelivery(delivery);

        var now = WholeSecondNow();
        var firing = Firing(now);
        delivery.Publish([firing], now);

        JsonElement alert = default;
        await EventuallyAsync(
            async () =>
            {
                var alerts = await alertmanager.GetAlertsAsync();
                alert = alerts.EnumerateArray().FirstOrDefault(a => a.GetProperty("labels").TryGetProperty("gpu", out var gpu) && gpu.GetString() == "0");
                return alert.ValueKind == JsonValueKind.Object;
            },
            () => $"the alert in Alertmanager's /api/v2/alerts; sent {delivery.Sent}, failed {delivery.Failed} ({string.Join("; ", delivery.LastErrors.Values)})\n{alertmanager.Output}");

        Assert.Equal(
            new Dictionary<string, string> { ["alertname"] = "GantryGpuHot", ["gpu"] = "0", ["node"] = "n1", ["severity"] = "warning" },
            alert.GetProperty("labels").Deserialize<Dictionary<string, string>>());
        Assert.Equal("GPU 0 on n1 is hot", alert.GetProperty("annotations").GetProperty("summary").GetString());
        Assert.Equal("https://example.test/hot", alert.GetProperty("annotations").GetProperty("runbook").GetString());
        Assert.Equal("active", alert.GetProperty("status").GetProperty("state").GetString());
        Assert.Equal("http://gantry.test:7070/alerts/GantryGpuHot", alert.GetProperty("generatorURL").GetString());
        Assert.Equal(firing.StartsAt, alert.GetProperty("startsAt").GetDateTimeOffset());
        Assert.Equal(firing.EndsAt, alert.GetProperty("endsAt").GetDateTimeOffset());

        var resolvedAt = now.AddSeconds(1);
        delivery.Publish([Resolved(firing, resolvedAt)], resolvedAt);

        // Alertmanager 0.25 lists no resolved alert in /api/v2/alerts (whatever the filters): the alert
        // leaves the list, and the resolve shows in what Alertmanager notifies, with Gantry's endsAt.
        JsonElement resolved = default;
        await EventuallyAsync(
            () =>
            {
                foreach (var request in amHook.Received)
                {
                    using var message = JsonDocument.Parse(request.Body);
                    if (message.RootElement.GetProperty("status").GetString() == "resolved")
                    {
                        resolved = message.RootElement.GetProperty("alerts")[0].Clone();
                        return true;
                    }
                }

                return false;
            },
            () => $"Alertmanager's resolved notification; it sent {amHook.Received.Count} notifications\n{alertmanager.Output}");
        Assert.Equal("resolved", resolved.GetProperty("status").GetString());
        Assert.Equal(resolvedAt, resolved.GetProperty("endsAt").GetDateTimeOffset());
        Assert.Equal(firing.StartsAt, resolved.GetProperty("startsAt").GetDateTimeOffset());
        Assert.Equal("0", resolved.GetProperty("labels").GetProperty("gpu").GetString());
        Assert.Empty((await alertmanager.GetAlertsAsync()).EnumerateArray());
        Assert.Contains("alertmanager_alerts_received_total{status=\"resolved\",version=\"v2\"} 1", await alertmanager.GetMetricsAsync(), StringComparison.Ordinal);

        // Gantry's webhook payload has the fields Alertmanager's own has, at the top and per alert.
        await EventuallyAsync(() => ourHook.Received.Count == 2, () => $"our webhooks ({ourHook.Received.Count})");
        using var ours = JsonDocument.Parse(ourHook.Received[0].Body);
        using var theirs = JsonDocument.Parse(amHook.Received[0].Body);
        Assert.Equal(Names(theirs.RootElement), Names(ours.RootElement));
        Assert.Equal(Names(theirs.RootElement.GetProperty("alerts")[0]), Names(ours.RootElement.GetProperty("alerts")[0]));
        Assert.Equal(
            theirs.RootElement.GetProperty("alerts")[0].GetProperty("endsAt").GetString(),
            ours.RootElement.GetProperty("alerts")[0].GetProperty("endsAt").GetString());

        await EventuallyAsync(() => delivery.Queued == 0 && delivery.Sent == 4, () => $"4 sent, none queued (sent {delivery.Sent}, queued {delivery.Queued})");
        Assert.Empty(Notifications(store));
        Assert.Equal(0, delivery.Failed);
        Assert.Equal(0, delivery.Dropped);
    }

    [Fact]
    public async Task Restart_AlertmanagerWasDown_StoredNotificationsDeliveredAfterRestart()
    {
        var port = Tools.FreePort();
        var options = new ServerOptions { Alertmanagers = [new Uri($"http://127.0.0.1:{port}")] };
        var now = WholeSecondNow();
        var tuning = DeliveryTuning.Default with { FirstRetry = TimeSpan.FromMilliseconds(50), MaxRetry = TimeSpan.FromMilliseconds(200) };

        // Before the restart: nothing listens on the port; the notifications wait in the store.
        using (var store = SqliteStateStore.Open(DatabasePath))
        {
            using var delivery = Create(store, options, TimeProvider.System, tuning);
            await using (new RunningDelivery(delivery))
            {
                delivery.Publish([Firing(now, gpu: "0")], now);
                delivery.Publish([Firing(now, gpu: "1")], now);
                await EventuallyAsync(() => delivery.Failed >= 2, () => $"failed attempts ({delivery.Failed})");
            }

            Assert.Equal(2, delivery.Queued);
            Assert.Equal(0, delivery.Sent);
            Assert.Contains(options.Alertmanagers[0].AbsoluteUri, delivery.LastErrors.Keys);
        }

        using (var store = SqliteStateStore.Open(DatabasePath))
        {
            var stored = Notifications(store);
            Assert.Equal(2, stored.Count);
            Assert.All(stored, s =>
            {
                Assert.Equal(AlertDelivery.AlertmanagerKind, s.Document.Kind);
                Assert.Equal($"http://127.0.0.1:{port}/api/v2/alerts", s.Document.Url);
                Assert.Equal(JsonValueKind.Array, s.Document.Payload.ValueKind);
            });

            // Oldest first: the second waits behind the first, which has been tried.
            Assert.True(stored[0].Document.Attempts >= 1);
            Assert.NotNull(stored[0].Document.LastError);
            Assert.Equal(0, stored[1].Document.Attempts);

            await using var alertmanager = await Alertmanager.StartAsync(port);
            using var delivery = Create(store, options, TimeProvider.System);
            Assert.Equal(2, delivery.Queued);
            await using var running = new RunningDelivery(delivery);

            await EventuallyAsync(
                async () => (await alertmanager.GetAlertsAsync()).GetArrayLength() == 2,
                () => $"both alerts in Alertmanager; sent {delivery.Sent} ({string.Join("; ", delivery.LastErrors.Values)})");
            var gpus = (await alertmanager.GetAlertsAsync()).EnumerateArray().Select(a => a.GetProperty("labels").GetProperty("gpu").GetString()).Order(StringComparer.Ordinal);
            Assert.Equal(["0", "1"], gpus);
            await EventuallyAsync(() => Notifications(store).Count == 0, () => "the outbox documents gone from the store");
            Assert.Equal(2, delivery.Sent);
            Assert.Equal(0, delivery.Queued);
        }
    }

    private static string[] Names(JsonElement element) => [.. element.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal)];
}
