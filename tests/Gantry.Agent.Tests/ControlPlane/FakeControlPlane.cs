using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gantry.Agent.Tests.ControlPlane;

/// <summary>
/// The agent-facing half of the API in docs/api.md, just enough to watch an agent: real Kestrel on
/// 127.0.0.1:0, requests recorded in arrival order, answers the test can bend (404, 409, 503), and
/// the replica behaviours of a server that shares its database: a standby's 307 naming the leader,
/// and the leader epoch its answers carry.
/// </summary>
internal sealed class FakeControlPlane : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Lock _gate = new();
    private List<Assignment> _assignments = [];
    private long _index = 1;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _registrations;
    private int _requests;
    private long _leaderEpoch;

    private FakeControlPlane(WebApplication app) => _app = app;

    public Uri Url { get; private set; } = null!;

    public ConcurrentQueue<(string? Authorization, RegisterNodeRequest Request)> Registrations { get; } = new();
    public ConcurrentQueue<(string? Authorization, HeartbeatRequest Request)> Heartbeats { get; } = new();

    /// <summary>Events and log uploads in arrival order, with the status each was answered.</summary>
    public ConcurrentQueue<(long JobId, AttemptEvent? Event, LogUpload? Logs, int Status)> Uploads { get; } = new();

    /// <summary>Every request answers 503 while set.</summary>
    public volatile bool Down;

    /// <summary>While set, every API request answers as a standby does: 307 to this leader, the same path and query.</summary>
    public volatile Uri? RedirectTo;

    /// <summary>Every request that arrived, whatever it was answered.</summary>
    public int Requests => Volatile.Read(ref _requests);

    /// <summary>The leader epoch heartbeat and assignments answers carry (0: a server that runs alone).</summary>
    public long LeaderEpoch
    {
        get => Interlocked.Read(ref _leaderEpoch);
        set => Interlocked.Exchange(ref _leaderEpoch, value);
    }

    /// <summary>Registration and heartbeat answers say the server reads GPU health (a server of this version); unset, an earlier one.</summary>
    public volatile bool AcceptsHealth;

    /// <summary>Registration and heartbeat answers say the server reads attempts' energy; unset, an earlier version.</summary>
    public volatile bool AcceptsEnergy;

    /// <summary>A heartbeat that carries health answers 400, as a server of an earlier version does (it refuses unknown properties).</summary>
    public volatile bool RefuseHealth;

    /// <summary>The next heartbeat answers 404 (the server forgot the node).</summary>
    public volatile bool ForgetNodeOnce;

    /// <summary>Events and logs for these jobs answer 409.</summary>
    public ConcurrentDictionary<long, bool> FencedJobs { get; } = new();

    public static async Task<FakeControlPlane> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        var fake = new FakeControlPlane(builder.Build());
        fake.Map();
        await fake._app.StartAsync();
        fake.Url = new Uri(fake._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return fake;
    }

    public void Assign(params Assignment[] assignments)
    {
        lock (_gate)
        {
            _assignments = [.. assignments];
            _index++;
            _changed.TrySetResult();
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    /// <summary>Stops at once, cutting open requests, as a replica that lost leadership exits: its address then refuses connections.</summary>
    public async Task KillAsync()
    {
        await _app.StopAsync(new CancellationToken(canceled: true));
        await _app.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private void Map()
    {
        _app.Use(async (context, next) =>
        {
            Interlocked.Increment(ref _requests);
            if (Down)
            {
                context.Response.StatusCode = 503;
                return;
            }

            if (RedirectTo is { } leader)
            {
                var root = leader.AbsoluteUri.TrimEnd('/');
                context.Response.StatusCode = 307;
                context.Response.Headers.Location = root + context.Request.Path + context.Request.QueryString;
                context.Response.Headers["Gantry-Leader"] = root;
                return;
            }

            await next(context);
        });

        _app.MapPost("/api/v1/nodes/register", async context =>
        {
            var request = await ReadAsync(context, GantryJson.Default.RegisterNodeRequest);
            Registrations.Enqueue((context.Request.Headers.Authorization, request));
            var n = Interlocked.Increment(ref _registrations);
            await WriteAsync(context, new RegisterNodeResponse { NodeId = request.NodeId ?? "node-1", Credential = $"cred-{n}", HeartbeatIntervalSeconds = 1, AcceptsHealth = AcceptsHealth, AcceptsEnergy = AcceptsEnergy }, GantryJson.Default.RegisterNodeResponse);
        });

        _app.MapPost("/api/v1/nodes/{id}/heartbeat", async context =>
        {
            var request = await ReadAsync(context, GantryJson.Default.HeartbeatRequest);
            Heartbeats.Enqueue((context.Request.Headers.Authorization, request));
            if (RefuseHealth && request.Health is not null)
            {
                context.Response.StatusCode = 400;
                context.Response.ContentType = "application/problem+json";
                await context.Response.WriteAsync("""{"title":"Invalid request","status":400,"detail":"health: is not a known property","errors":{"health":["is not a known property"]}}""", context.RequestAborted);
                return;
            }

            if (ForgetNodeOnce)
            {
                ForgetNodeOnce = false;
                context.Response.StatusCode = 404;
                return;
            }

            long index;
            lock (_gate)
            {
                index = _index;
            }

            await WriteAsync(context, new HeartbeatResponse { State = NodeState.Ready, LeaseExpiresAt = DateTimeOffset.UnixEpoch, AssignmentIndex = index, LeaderEpoch = LeaderEpoch, AcceptsHealth = AcceptsHealth, AcceptsEnergy = AcceptsEnergy }, GantryJson.Default.HeartbeatResponse);
        });

        _app.MapGet("/api/v1/nodes/{id}/assignments", async context =>
        {
            var after = long.Parse(context.Request.Query["index"].ToString(), System.Globalization.CultureInfo.InvariantCulture);
            Task changed;
            lock (_gate)
            {
                changed = _changed.Task;
            }

            if (after >= Volatile.Read(ref _index))
            {
                await Task.WhenAny(changed, Task.Delay(TimeSpan.FromSeconds(30), context.RequestAborted));
            }

            AssignmentsResponse answer;
            lock (_gate)
            {
                answer = new AssignmentsResponse { Index = _index, Attempts = _assignments, LeaderEpoch = LeaderEpoch };
            }

            await WriteAsync(context, answer, GantryJson.Default.AssignmentsResponse);
        });

        _app.MapPost("/api/v1/jobs/{id:long}/attempts/{attempt:int}/events", async (HttpContext context, long id) =>
        {
            var body = await ReadAsync(context, GantryJson.Default.AttemptEvent);
            var status = FencedJobs.ContainsKey(id) ? 409 : 204;
            Uploads.Enqueue((id, body, null, status));
            context.Response.StatusCode = status;
        });

        _app.MapPost("/api/v1/jobs/{id:long}/attempts/{attempt:int}/logs", async (HttpContext context, long id) =>
        {
            var body = await ReadAsync(context, GantryJson.Default.LogUpload);
            var status = FencedJobs.ContainsKey(id) ? 409 : 204;
            Uploads.Enqueue((id, null, body, status));
            context.Response.StatusCode = status;
        });
    }

    private static async Task<T> ReadAsync<T>(HttpContext context, JsonTypeInfo<T> type) =>
        (await JsonSerializer.DeserializeAsync(context.Request.Body, type, context.RequestAborted))!;

    private static async Task WriteAsync<T>(HttpContext context, T value, JsonTypeInfo<T> type)
    {
        context.Response.ContentType = "application/json";
        await context.Response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(value, type), context.RequestAborted);
    }
}

/// <summary>Keeps the event ids of every log line, to count how often something was said.</summary>
internal sealed class EventIdRecorder : ILoggerProvider
{
    public ConcurrentQueue<int> Ids { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Recorder(this);

    public void Dispose()
    {
    }

    private sealed class Recorder(EventIdRecorder owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Ids.Enqueue(eventId.Id);
    }
}
