using System.CommandLine;
using System.Globalization;
using Gantry.Core.Protocol;

namespace Gantry.Cli.Services;

/// <summary>
/// The container flags, <c>--image IMAGE [--runtime podman|docker] [--port [HOST:]CONTAINER] [--volume HOST:CONTAINER[:ro]]</c>,
/// and their mapping to a <see cref="ContainerSpec"/> (docs/containers-jobs.md). Used by <c>gantry services run</c>;
/// the parsing is static so that <c>gantry jobs submit</c> can share it.
/// </summary>
internal sealed class ContainerFlags
{
    public Option<string> Image { get; } = new("--image")
    {
        Description = "Run in a container of this image (podman by default), e.g. vllm/vllm-openai:v0.6.3; the command after -- is passed to the image's entrypoint.",
        HelpName = "IMAGE",
    };

    public Option<string> Runtime { get; } = new("--runtime")
    {
        Description = "The container runtime: podman or docker; the job is placed only on nodes that have it. (default: podman)",
        HelpName = "RUNTIME",
    };

    public Option<string[]> Ports { get; } = new("--port")
    {
        Description = "With --image: publish a container port on the node, CONTAINER or HOST:CONTAINER (8000, 18000:8000); repeatable, and the first is the service's port. Without --image: the port the service serves on.",
        HelpName = "[HOST:]PORT",
        AllowMultipleArgumentsPerToken = false,
    };

    public Option<string[]> Volumes { get; } = new("--volume")
    {
        Description = "With --image: mount a node path into the container, HOST:CONTAINER[:ro] (absolute paths); repeatable.",
        HelpName = "HOST:CONTAINER[:ro]",
        AllowMultipleArgumentsPerToken = false,
    };

    public void AddTo(Command command)
    {
        command.Options.Add(Image);
        command.Options.Add(Runtime);
        command.Options.Add(Ports);
        command.Options.Add(Volumes);
    }

    /// <summary>The container of these values; null without an image (then --runtime and --volume are refused).</summary>
    public static ContainerSpec? Build(string? image, string? runtime, IReadOnlyList<string>? ports, IReadOnlyList<string>? volumes)
    {
        if (image is null)
        {
            if (runtime is not null)
            {
                throw new UsageException("--runtime", "needs --image (the runtime runs a container image)");
            }

            if (volumes is { Count: > 0 })
            {
                throw new UsageException("--volume", "needs --image (only a container mounts volumes)");
            }

            return null;
        }

        if (image.Length == 0 || image.Any(char.IsWhiteSpace))
        {
            throw new UsageException("--image", $"expected an image reference such as vllm/vllm-openai:latest, got '{image}'");
        }

        var mappings = new List<PortMapping>();
        foreach (var port in ports ?? [])
        {
            mappings.Add(ParsePort(port));
        }

        var mounts = new List<VolumeMount>();
        foreach (var volume in volumes ?? [])
        {
            mounts.Add(ParseVolume(volume));
        }

        return new ContainerSpec { Image = image, Runtime = ParseRuntime(runtime), Ports = mappings, Volumes = mounts };
    }

    /// <summary><c>podman</c> or <c>docker</c>; podman when not given.</summary>
    public static ContainerRuntime ParseRuntime(string? text) => text switch
    {
        null or "podman" => ContainerRuntime.Podman,
        "docker" => ContainerRuntime.Docker,
        _ => throw new UsageException("--runtime", $"expected podman or docker, got '{text}'"),
    };

    /// <summary><c>8000</c> (the same port on the node) or <c>18000:8000</c> (node port, container port).</summary>
    public static PortMapping ParsePort(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0)
        {
            return new PortMapping { ContainerPort = Port(text, text) };
        }

        return new PortMapping { HostPort = Port(text[..colon], text), ContainerPort = Port(text[(colon + 1)..], text) };
    }

    /// <summary><c>HOST:CONTAINER</c> or <c>HOST:CONTAINER:ro</c>, both absolute.</summary>
    public static VolumeMount ParseVolume(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split(':');
        var readOnly = parts.Length == 3 && parts[2] == "ro";
        if (!(parts.Length == 2 || readOnly || (parts.Length == 3 && parts[2] == "rw")) || !parts[0].StartsWith('/') || !parts[1].StartsWith('/'))
        {
            throw new UsageException("--volume", $"expected HOST:CONTAINER or HOST:CONTAINER:ro with absolute paths, e.g. /data/models:/models:ro, got '{text}'");
        }

        return new VolumeMount { HostPath = parts[0], ContainerPath = parts[1], ReadOnly = readOnly };
    }

    /// <summary>A port number, 1–65535.</summary>
    internal static int Port(string text, string whole, string flag = "--port") =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is >= 1 and <= 65535
            ? port
            : throw new UsageException(flag, $"expected a port from 1 to 65535, got '{whole}'");
}
