using System.Net;

namespace Gantry.Cli.Http;

/// <summary>The server answered with an error status. Rendered as <c>gantry: title: detail</c> plus field errors.</summary>
internal sealed class ApiProblemException(HttpStatusCode status, Problem problem) : Exception(problem.Title)
{
    public HttpStatusCode Status { get; } = status;

    public Problem Problem { get; } = problem;
}

/// <summary>The server could not be reached: connection refused, no such host, a timeout, a dropped connection.</summary>
internal sealed class ServerUnreachableException(Uri server, string reason, Exception? inner = null) : Exception(reason, inner)
{
    public Uri Server { get; } = server;
}
