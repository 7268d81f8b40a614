namespace Gantry.Cli.Http;

/// <summary>
/// One answer from the server, whichever transport carried it: its status, its media type and its
/// body as a stream that ends where the answer ends. Disposing it closes the connection.
/// </summary>
internal sealed class ApiResponse(int statusCode, string reasonPhrase, string? mediaType, Stream body, IDisposable? owner = null) : IDisposable
{
    public int StatusCode { get; } = statusCode;

    public string ReasonPhrase { get; } = reasonPhrase;

    /// <summary>The <c>Content-Type</c> without its parameters (<c>application/problem+json</c>); null when none was sent.</summary>
    public string? MediaType { get; } = mediaType;

    public Stream Body { get; } = body;

    /// <summary>The <c>Location</c> header as sent (a redirect's target); null when none was sent.</summary>
    public string? Location { get; init; }

    /// <summary>Whether the body is read by blocking socket calls (<see cref="PlainHttpTransport"/>'s answers).</summary>
    public bool Blocking { get; init; }

    /// <summary>The <c>Gantry-Leader</c> header (a standby naming the leader's base URL); null when none was sent.</summary>
    public string? Leader { get; init; }

    public bool IsSuccessStatusCode => StatusCode is >= 200 and <= 299;

    /// <summary>Reads the rest of the body, blocking (the plain transport's answers).</summary>
    public byte[] ReadAll()
    {
        using var copy = new MemoryStream();
        Body.CopyTo(copy);
        return copy.ToArray();
    }

    /// <summary>Reads the rest of the body.</summary>
    public async Task<byte[]> ReadAllAsync(CancellationToken cancellationToken)
    {
        using var copy = new MemoryStream();
        await Body.CopyToAsync(copy, cancellationToken).ConfigureAwait(false);
        return copy.ToArray();
    }

    public void Dispose()
    {
        Body.Dispose();
        owner?.Dispose();
    }
}
