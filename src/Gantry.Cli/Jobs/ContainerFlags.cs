using System.CommandLine;
using System.Globalization;
using System.Text;
using Gantry.Core.Protocol;

namespace Gantry.Cli.Jobs;

/// <summary>
/// <c>--image</c>, <c>--runtime</c>, <c>--port</c> and <c>--volume</c>: a job (or a service) that runs in a container
/// (docs/containers-jobs.md). The parsers are static so that other commands read the same values the same way.
/// </summary>
internal sealed class ContainerFlags
{
    public Option<string> Image { get; } = new("--image")
    {
        Description = "Run the job in a container of this image, e.g. docker.io/library/python:3.12; the arguments after -- become the container's command (none: the image's own). The node's agent runs it with podman or docker, its GPUs as devices (docs/containers-jobs.md).",
        HelpName = "IMAGE",
    };

    public Option<string> Runtime { get; } = new("--runtime")
    {
        Description = "The container runtime that runs --image: podman or docker; only nodes whose agent found it take the job. (default: podman)",
        HelpName = "podman|docker",
    };

    public Option<string[]> Port { get; } = new("--port")
    {
        Description = "Publish a container port on the node: PORT (the same port on the node) or HOST:CONTAINER; repeatable.",
        HelpName = "PORT|HOST:CONTAINER",
        AllowMultipleArgumentsPerToken = false,
    };

    public Option<string[]> Volume { get; } = new("--volume")
    {
        Description = "Mount a path of the node into the container: HOST:CONTAINER, or HOST:CONTAINER:ro for read-only; both absolute. Repeatable.",
        HelpName = "HOST:CONTAINER[:ro]",
        AllowMultipleArgumentsPerToken = false,
    };

    public void AddTo(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        command.Options.Add(Image);
        command.Options.Add(Runtime);
        command.Options.Add(Port);
        command.Options.Add(Volume);
    }

    /// <summary>The container spec the flags give; null without <c>--image</c> (and then no other container flag may be given).</summary>
    public ContainerSpec? Build(ParseResult parseResult)
    {
        ArgumentNullException.ThrowIfNull(parseResult);
        var image = parseResult.GetValue(Image);
        var runtime = parseResult.GetValue(Runtime);
        var ports = parseResult.GetValue(Port) ?? [];
        var volumes = parseResult.GetValue(Volume) ?? [];
        if (image is null)
        {
            var stray = runtime is not null ? "--runtime" : ports.Length > 0 ? "--port" : volumes.Length > 0 ? "--volume" : null;
            return stray is null ? null : throw new UsageException(stray, "is for a container job: give --image IMAGE too");
        }

        return new ContainerSpec
        {
            Image = ParseImage(image),
            Runtime = runtime is null ? ContainerRuntime.Podman : ParseRuntime(runtime),
            Ports = ParsePorts(ports),
            Volumes = [.. volumes.Select(ParseVolume)],
        };
    }

    /// <summary>An image reference: not empty, no spaces, not starting with '-' (the server checks the rest).</summary>
    internal static string ParseImage(string text)
    {
        var image = text.Trim();
        return image.Length == 0 ? throw new UsageException("--image", "must name an image, e.g. docker.io/library/python:3.12")
            : image.StartsWith('-') || image.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)) ? throw new UsageException("--image", $"is not an image reference: '{text}'")
            : image;
    }

    internal static ContainerRuntime ParseRuntime(string text) => text.Trim().ToLowerInvariant() switch
    {
        "podman" => ContainerRuntime.Podman,
        "docker" => ContainerRuntime.Docker,
        _ => throw new UsageException("--runtime", $"expected podman or docker, got '{text}'"),
    };

    /// <summary><c>8000</c> or <c>18000:8000</c> each; a host port given twice is refused.</summary>
    internal static List<PortMapping> ParsePorts(IEnumerable<string> values)
    {
        var ports = new List<PortMapping>();
        var hostPorts = new HashSet<int>();
        foreach (var value in values)
        {
            var colon = value.IndexOf(':', StringComparison.Ordinal);
            var mapping = colon < 0
                ? new PortMapping { ContainerPort = ParsePortNumber(value, value) }
                : new PortMapping { HostPort = ParsePortNumber(value[..colon], value), ContainerPort = ParsePortNumber(value[(colon + 1)..], value) };
            if (!hostPorts.Add(mapping.HostPort ?? mapping.ContainerPort))
            {
                throw new UsageException("--port", $"host port {mapping.HostPort ?? mapping.ContainerPort} is published twice");
            }

            ports.Add(mapping);
        }

        return ports;
    }

    /// <summary><c>/data:/data</c> or <c>/models:/models:ro</c>: both paths absolute, no ':' inside either.</summary>
    internal static VolumeMount ParseVolume(string value)
    {
        var parts = value.Split(':');
        var readOnly = parts.Length == 3 && parts[2] == "ro";
        if (parts.Length is not (2 or 3) || (parts.Length == 3 && !readOnly && parts[2] != "rw"))
        {
            throw new UsageException("--volume", $"expected HOST:CONTAINER or HOST:CONTAINER:ro with absolute paths, got '{value}'");
        }

        if (!parts[0].StartsWith('/') || !parts[1].StartsWith('/'))
        {
            throw new UsageException("--volume", $"both paths must be absolute (the host's on the node), got '{value}'");
        }

        return new VolumeMount { HostPath = parts[0], ContainerPath = parts[1], ReadOnly = readOnly };
    }

    /// <summary>What <c>jobs show</c> prints: <c>podman docker.io/library/python:3.12</c>.</summary>
    internal static string Describe(ContainerSpec container) =>
        (container.Runtime == ContainerRuntime.Docker ? "docker " : "podman ") + container.Image;

    /// <summary><c>8000, 18000→8000</c>.</summary>
    internal static string? DescribePorts(ContainerSpec container)
    {
        if (container.Ports.Count == 0)
        {
            return null;
        }

        var text = new StringBuilder();
        foreach (var port in container.Ports)
        {
            text.Append(text.Length == 0 ? "" : ", ");
            if (port.HostPort is { } host && host != port.ContainerPort)
            {
                text.Append(host.ToString(CultureInfo.InvariantCulture)).Append(':');
            }

            text.Append(port.ContainerPort.ToString(CultureInfo.InvariantCulture));
        }

        return text.ToString();
    }

    /// <summary><c>/data:/data, /models:/models:ro</c>.</summary>
    internal static string? DescribeVolumes(ContainerSpec container) =>
        container.Volumes.Count == 0 ? null : string.Join(", ", container.Volumes.Select(static v => v.HostPath + ":" + v.ContainerPath + (v.ReadOnly ? ":ro" : "")));

    private static int ParsePortNumber(string text, string value) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is >= 1 and <= 65535
            ? port
            : throw new UsageException("--port", $"expected PORT or HOST:CONTAINER with ports 1-65535, got '{value}'");

    /// <summary>A single port number, 1–65535 (<paramref name="whole"/> is what the person typed, for the message).</summary>
    internal static int ParsePort(string text, string whole, string flag = "--port") =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is >= 1 and <= 65535
            ? port
            : throw new UsageException(flag, $"expected a port from 1 to 65535, got '{whole}'");
}
