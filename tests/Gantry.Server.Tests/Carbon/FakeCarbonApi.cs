using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Tests.Carbon;

/// <summary>
/// A stand-in for a carbon API: real Kestrel on 127.0.0.1:0 answering each path with what the test set
/// (<c>Answer</c>: a status and a body, or a delay longer than the client's timeout), recording
/// every request. Unset paths answer 404 with an Electricity Maps-style error body.
/// </summary>
internal sealed class FakeCarbonApi : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, Func<HttpContext, Task>> _routes = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<ApiRequest> _requests = new();

    private FakeCarbonApi(WebApplication app) => _app = app;

    /// <summary>The base URL, ending in '/'.</summary>
    public Uri Url { get; private set; } = default!;

    public IReadOnlyList<ApiRequest> Requests => [.. _requests];

    public static async Task<FakeCarbonApi> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var api = new FakeCarbonApi(app);
        app.Run(async context =>
        {
            var headers = context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
            api._requests.Enqueue(new ApiRequest(context.Request.Path.Value ?? "", context.Request.Query.ToDictionary(q => q.Key, q => q.Value.ToString(), StringComparer.Ordinal), headers));
            if (api._routes.TryGetValue(context.Request.Path.Value ?? "", out var handler))
            {
                await handler(context);
                return;
            }

            context.Response.StatusCode = 404;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync("""{"status":"error","message":"No route"}""");
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        api.Url = new Uri(address.TrimEnd('/') + "/");
        return api;
    }

    /// <summary>Answers <paramref name="path"/> with <paramref name="status"/> and <paramref name="body"/> (JSON) from now on.</summary>
    public void Answer(string path, int status, string body) => _routes[path] = async context =>
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(body);
    };

    /// <summary>Answers <paramref name="path"/> through <paramref name="handler"/> from now on.</summary>
    public void Answer(string path, Func<HttpContext, Task> handler) => _routes[path] = handler;

    /// <summary>Answers <paramref name="path"/> only after <paramref name="delay"/> (or when the client gives up).</summary>
    public void Hang(string path, TimeSpan delay) => _routes[path] = async context =>
    {
        try
        {
            await Task.Delay(delay, context.RequestAborted);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        context.Response.StatusCode = 200;
        await context.Response.WriteAsync("{}");
    };

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>One request a <see cref="FakeCarbonApi"/> got.</summary>
internal sealed record ApiRequest(string Path, IReadOnlyDictionary<string, string> Query, IReadOnlyDictionary<string, string> Headers);
