using System.Diagnostics;
using Gantry.Server.Storage;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Api;

/// <summary>
/// A request that failed because the store could not be used for a moment
/// (<see cref="StoreUnavailableException.Covers"/>) is answered <c>503</c> problem+json with
/// <c>Retry-After: 1</c> instead of a 500: nothing of it was stored, and the agents and the CLI send
/// it again (to another replica once this one has stepped down). One warning line at most every
/// few seconds names the cause and how many requests it refused, with no stack trace: an outage of
/// the database must not flood the log.
/// </summary>
internal sealed partial class StoreUnavailableHandler(IProblemDetailsService problems, ILogger<StoreUnavailableHandler> logger) : IExceptionHandler
{
    private static readonly long LogEvery = Stopwatch.Frequency * 5;
    private long _lastLogged = -LogEvery;
    private long _refused;

    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (!StoreUnavailableException.Covers(exception) || httpContext.Response.HasStarted)
        {
            return false;
        }

        var refused = Interlocked.Increment(ref _refused);
        var now = Stopwatch.GetTimestamp();
        var last = Interlocked.Read(ref _lastLogged);
        if (now - last >= LogEvery && Interlocked.CompareExchange(ref _lastLogged, now, last) == last)
        {
            Interlocked.Exchange(ref _refused, 0);
            LogRefused(logger, refused, httpContext.Request.Method, httpContext.Request.Path.Value ?? "", exception.GetBaseException().Message);
        }

        httpContext.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        httpContext.Response.Headers.RetryAfter = "1";
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            Exception = exception,
            ProblemDetails = new ProblemDetails
            {
                Status = StatusCodes.Status503ServiceUnavailable,
                Title = "Service unavailable",
                Detail = "the store is unavailable for the moment; nothing was changed, try again",
            },
        }).ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 2950, Level = LogLevel.Warning, Message = "The store is unavailable: answered 503 to {Refused} request(s), the latest {Method} {Path}: {Reason}")]
    private static partial void LogRefused(ILogger logger, long refused, string method, string path, string reason);
}
