using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gantry.Cli.Tests;

/// <summary>
/// A real Kestrel endpoint on 127.0.0.1:0 that answers with canned bodies, standing in for
/// <c>gantry server</c> (which is written in parallel). It records every request it gets.
/// </summary>
internal sealed class FakeApi : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<RecordedRequest> _requests;

    private FakeApi(WebApplication app, Uri address, ConcurrentQueue<RecordedRequest> requests)
    {
        _app = app;
        Address = address;
        _requests = requests;
    }

    public Uri Address { get; }

    public string Url => Address.AbsoluteUri.TrimEnd('/');

    public static async Task<FakeApi> StartAsync(Action<WebApplication> map)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var requests = new ConcurrentQueue<RecordedRequest>();
        app.Use(async (context, next) =>
        {
            using var reader = new StreamReader(context.Request.Body);
            var body = await reader.ReadToEndAsync(context.RequestAborted);
            requests.Enqueue(new RecordedRequest(context.Request.Method, context.Request.Path + context.Request.QueryString, context.Request.Headers.Authorization.ToString(), body));
            context.Request.Body = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(body));
            await next(context);
        });
        map(app);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new FakeApi(app, new Uri(address), requests);
    }

    /// <summary>Every request so far, oldest first.</summary>
    public IReadOnlyList<RecordedRequest> Received => [.. _requests];

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    /// <summary>Writes a body with a content type and status.</summary>
    public static async Task WriteAsync(HttpContext context, int status, string contentType, string body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = contentType;
        await context.Response.WriteAsync(body, context.RequestAborted);
    }
}

internal sealed record RecordedRequest(string Method, string PathAndQuery, string Authorization, string Body);
