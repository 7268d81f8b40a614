using Gantry.Core.Protocol;
using Gantry.Server.Api;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Gantry.Server.Leadership;

/// <summary>
/// What a replica that does not serve (a standby, or a leader still loading) answers: <c>/healthz</c>
/// as usual, <c>/readyz</c> 503 naming the leader, every other request a <c>307</c> to the same path on
/// the leader (with a <c>Gantry-Leader</c> header), or <c>503</c> with <c>Retry-After: 1</c> while no
/// leader is known.
/// </summary>
internal static class Standby
{
    public static void UseStandbyRedirects(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        var leadership = context.RequestServices.GetRequiredService<Leadership>();
        if (leadership.IsReady || context.Request.Path == "/healthz" || context.Request.Path == Tls.ServerTls.CaPath)
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        // A lease still naming this replica's own address is an earlier run of it that did not stop
        // cleanly: wait for the lease to run out rather than send clients to ourselves.
        var leader = leadership.IsLeader || leadership.LeaderUrl == leadership.OwnUrl ? null : leadership.LeaderUrl;
        if (context.Request.Path == "/readyz")
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            await context.Response.WriteAsync(
                leadership.IsLeader ? "leader, loading the state\n" : leader is null ? "standby; no leader elected yet\n" : $"standby; the leader is {leader}\n",
                context.RequestAborted).ConfigureAwait(false);
            return;
        }

        if (leader is not null)
        {
            context.Response.StatusCode = StatusCodes.Status307TemporaryRedirect;
            context.Response.Headers[LeaderRedirect.HeaderName] = leader;
            context.Response.Headers.Location = leader + context.Request.PathBase + context.Request.Path + context.Request.QueryString;
            return;
        }

        context.Response.Headers.RetryAfter = "1";
        await Problems.Unavailable(leadership.IsLeader ? "this replica was just elected leader and is loading the state; try again" : "no leader is elected yet; try again")
            .ExecuteAsync(context).ConfigureAwait(false);
    });
}

/// <summary>Runs a worker only while this replica leads and has loaded the state.</summary>
internal sealed class WhenLeader<T>(Leadership leadership, IServiceProvider services) : BackgroundService
    where T : IHostedService
{
    private T? _worker;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await leadership.WhenReady.WaitAsync(stoppingToken).ConfigureAwait(false);
        _worker = services.GetRequiredService<T>();
        await _worker.StartAsync(stoppingToken).ConfigureAwait(false);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        if (_worker is not null)
        {
            await _worker.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}
