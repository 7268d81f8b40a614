using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Tests.Alerts.Delivery;

/// <summary>
/// A webhook receiver: real Kestrel on 127.0.0.1:0 that records every POST (raw body and headers) and
/// answers with the statuses it was given, in turn, then 200.
/// </summary>
internal sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedRequest> _received;

    private WebhookReceiver(WebApplication app, Uri url, ConcurrentQueue<ReceivedRequest> received)
    {
        _app = app;
        Url = url;
        _received = received;
    }

    /// <summary>Where it listens (<c>http://127.0.0.1:PORT/hook</c>).</summary>
    public Uri Url { get; }

    /// <summary>Every request so far, oldest first.</summary>
    public IReadOnlyList<ReceivedRequest> Received => [.. _received];

    public static async Task<WebhookReceiver> StartAsync(params int[] answers)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var received = new ConcurrentQueue<ReceivedRequest>();
        var statuses = new ConcurrentQueue<int>(answers);
        app.MapPost("/hook", async (HttpContext context) =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body, context.RequestAborted);
            var headers = context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
            received.Enqueue(new ReceivedRequest(body.ToArray(), headers, DateTimeOffset.UtcNow));
            var status = statuses.TryDequeue(out var next) ? next : 200;
            return status == 400 ? Results.Text("cannot read this payload", statusCode: 400) : Results.StatusCode(status);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new WebhookReceiver(app, new Uri(address.TrimEnd('/') + "/hook"), received);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>One request a <see cref="WebhookReceiver"/> got.</summary>
internal sealed record ReceivedRequest(byte[] Body, IReadOnlyDictionary<string, string> Headers, DateTimeOffset At)
{
    public string Text => System.Text.Encoding.UTF8.GetString(Body);
}
