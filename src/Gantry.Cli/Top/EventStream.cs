using System.Text;
using Gantry.Cli.Http;

namespace Gantry.Cli.Top;

/// <summary>Reads a <c>text/event-stream</c> answer one event at a time (<c>event:</c> and <c>data:</c> lines, a blank line ends an event).</summary>
internal sealed class EventStream : IDisposable
{
    private readonly IDisposable _response;
    private readonly StreamReader _reader;

    private EventStream(IDisposable response, Stream body)
    {
        _response = response;
        _reader = new StreamReader(body, Encoding.UTF8);
    }

    /// <summary>Reads the events of an answer from the server's API.</summary>
    public static EventStream Open(ApiResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        return new EventStream(response, response.Body);
    }

    /// <summary>Reads the events of an agent's answer.</summary>
    public static async Task<EventStream> OpenAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(response);
        return new EventStream(response, await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false));
    }

    /// <summary>The next event's name (<c>message</c> when unnamed) and data; null when the stream ended.</summary>
    public async Task<(string Event, string Data)?> NextAsync(CancellationToken cancellationToken)
    {
        string? name = null;
        var data = new StringBuilder();
        while (await _reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            if (line.Length == 0)
            {
                if (data.Length > 0)
                {
                    return (name ?? "message", data.ToString());
                }

                name = null;
                continue;
            }

            if (line[0] == ':')
            {
                // A comment (keep-alive).
                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var field = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? "" : line[(colon + 1)..];
            if (value.StartsWith(' '))
            {
                value = value[1..];
            }

            if (field == "event")
            {
                name = value;
            }
            else if (field == "data")
            {
                if (data.Length > 0)
                {
                    data.Append('\n');
                }

                data.Append(value);
            }
        }

        return null;
    }

    public void Dispose()
    {
        _reader.Dispose();
        _response.Dispose();
    }
}
