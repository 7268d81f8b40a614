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
    /// <summary>The server tried last.</summary>
    public Uri Server { get; } = server;

    /// <summary>The server was reached but its TLS certificate was not trusted; <see cref="Exception.Message"/> says why.</summary>
    public bool Untrusted { get; init; }

    /// <summary>When several server URLs were given: each one tried and why it failed, in the order tried.</summary>
    public IReadOnlyList<ServerFailure> Failures { get; init; } = [];
}

/// <summary>One server URL that failed a call, why ("Connection refused (10.0.0.1:7070)", "503 Service Unavailable: …"), and the exception behind it if any.</summary>
internal sealed record ServerFailure(Uri Server, string Reason, Exception? Error = null)
{
    /// <summary>The server's TLS certificate was not trusted.</summary>
    public bool Untrusted { get; init; }
}
