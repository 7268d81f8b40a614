using System.Diagnostics;
using System.Text.Json;
using Gantry.Server.Alerts.Delivery;
using Gantry.Server.Alerts.Rules;
using Gantry.Server.Configuration;
using Gantry.Server.Storage;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gantry.Server.Tests.Alerts.Delivery;

/// <summary>What the delivery tests share: notices, a delivery over a real SQLite store, a running loop, waiting.</summary>
internal static class DeliveryKit
{
    public const string Secret = "a-webhook-secret-of-some-length";

    public static AlertNotice Firing(DateTimeOffset now, string alertname = "GantryGpuHot", string gpu = "0", bool changed = true) => new()
    {
        Labels = LabelSet.Of("alertname", alertname, "node", "n1", "gpu", gpu, "severity", "warning"),
        Annotations = new Dictionary<string, string> { ["summary"] = $"GPU {gpu} on n1 is hot", ["runbook"] = "https://example.test/hot" },
        StartsAt = now.AddMinutes(-2),
        EndsAt = now.AddMinutes(4),
        Resolved = false,
        Changed = changed,
        GeneratorUrl = $"http://gantry.test:7070/alerts/{alertname}",
    };

    public static AlertNotice Resolved(AlertNotice firing, DateTimeOffset now) =>
        firing with { EndsAt = now, Resolved = true, Changed = true };

    /// <summary>Now to the second (what Alertmanager echoes back compares exactly).</summary>
    public static DateTimeOffset WholeSecondNow() => DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());

    public static AlertDelivery Create(IStateStore store, ServerOptions options, TimeProvider time, DeliveryTuning? tuning = null) =>
        new(store, store.Load(), options, time, NullLogger<AlertDelivery>.Instance, tuning ?? DeliveryTuning.Default, handler: null);

    /// <summary>The stored notification documents, parsed.</summary>
    public static List<(string Id, OutboxDocument Document)> Notifications(IStateStore store) =>
        [.. store.Load().AlertDocuments
            .Where(d => d.Kind == AlertDelivery.DocumentKind)
            .OrderBy(d => d.Id, StringComparer.Ordinal)
            .Select(d => (d.Id, JsonSerializer.Deserialize(d.Body, DeliveryJson.Default.OutboxDocument)!))];

    /// <summary>Polls <paramref name="condition"/> until it holds; fails saying <paramref name="what"/> after <paramref name="timeout"/> (30 s).</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, Func<string> what, TimeSpan? timeout = null, Action? between = null)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > (timeout ?? TimeSpan.FromSeconds(30)))
            {
                Assert.Fail("Timed out waiting: " + what());
            }

            between?.Invoke();
            await Task.Delay(50);
        }
    }

    public static Task EventuallyAsync(Func<bool> condition, Func<string> what, TimeSpan? timeout = null, Action? between = null) =>
        EventuallyAsync(() => Task.FromResult(condition()), what, timeout, between);
}

/// <summary>Runs <see cref="AlertDelivery.RunAsync"/> until disposed.</summary>
internal sealed class RunningDelivery : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public RunningDelivery(AlertDelivery delivery)
    {
        _loop = delivery.RunAsync(_stop.Token);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop.WaitAsync(TimeSpan.FromSeconds(30));
        _stop.Dispose();
    }
}
