using System.Text.RegularExpressions;
using Gantry.Core.Protocol;

namespace Gantry.Server.Api;

/// <summary>The checks of a container job's spec and of a node's container runtimes (docs/containers-jobs.md).</summary>
internal static partial class Validation
{
    public const int MaxContainerPorts = 100;
    public const int MaxContainerVolumes = 100;
    public const int MaxImageLength = 1024;

    /// <summary>
    /// An image reference as podman and docker take one (<c>registry:5000/org/name:tag@sha256:…</c>): starting with a
    /// letter or digit (never '-', which the runtime would read as a flag), then letters, digits and <c>._-/:@</c>.
    /// </summary>
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._/:@-]*$")]
    private static partial Regex ImageReference();

    private static void CheckContainer(ContainerSpec c, Action<string, string> add)
    {
        // System.Text.Json checks that a required property is present, not that it is not null.
        if (c.Image is null || c.Image.Length == 0)
        {
            add("container.image", "must name an image, e.g. docker.io/library/ubuntu:24.04");
        }
        else if (c.Image.Length > MaxImageLength || !ImageReference().IsMatch(c.Image))
        {
            add("container.image", $"must be an image reference of at most {MaxImageLength} characters: letters, digits and ._-/:@, starting with a letter or digit");
        }

        if (!Enum.IsDefined(c.Runtime))
        {
            add("container.runtime", "must be podman or docker");
        }

        if (c.Ports is null)
        {
            add("container.ports", "must not be null");
        }
        else if (c.Ports.Count > MaxContainerPorts)
        {
            add("container.ports", $"has more than {MaxContainerPorts} ports");
        }
        else
        {
            var hostPorts = new HashSet<int>();
            for (var i = 0; i < c.Ports.Count; i++)
            {
                var port = c.Ports[i];
                if (port is null)
                {
                    add($"container.ports[{i}]", "must not be null");
                }
                else if (port.ContainerPort is < 1 or > 65535)
                {
                    add($"container.ports[{i}].containerPort", $"must be between 1 and 65535, got {port.ContainerPort}");
                }
                else if (port.HostPort is < 1 or > 65535)
                {
                    add($"container.ports[{i}].hostPort", $"must be between 1 and 65535, got {port.HostPort}");
                }
                else if (!hostPorts.Add(port.HostPort ?? port.ContainerPort))
                {
                    add($"container.ports[{i}].hostPort", $"publishes host port {port.HostPort ?? port.ContainerPort} twice");
                }
            }
        }

        if (c.Volumes is null)
        {
            add("container.volumes", "must not be null");
        }
        else if (c.Volumes.Count > MaxContainerVolumes)
        {
            add("container.volumes", $"has more than {MaxContainerVolumes} volumes");
        }
        else
        {
            for (var i = 0; i < c.Volumes.Count; i++)
            {
                var volume = c.Volumes[i];
                if (volume is null)
                {
                    add($"container.volumes[{i}]", "must not be null");
                }
                else if (ContainerPathProblem(volume.HostPath) is { } host)
                {
                    add($"container.volumes[{i}].hostPath", host);
                }
                else if (ContainerPathProblem(volume.ContainerPath) is { } inside)
                {
                    add($"container.volumes[{i}].containerPath", inside);
                }
            }
        }
    }

    /// <summary>A volume's path: absolute, without ':' (the runtime's separator) or ',' (its options'), NUL or control characters.</summary>
    private static string? ContainerPathProblem(string? path) =>
        path is null || path.Length is 0 or > 4096 || path[0] != '/' ? "must be an absolute path (starting with /), at most 4096 characters"
        : path.Contains(':', StringComparison.Ordinal) ? "must not contain ':' (it separates the paths of a volume)"
        : path.Contains(',', StringComparison.Ordinal) || path.Any(char.IsControl) ? "must not contain ',' or control characters"
        : null;

    private static void CheckContainerRuntimes(IReadOnlyList<ContainerRuntimeInfo>? runtimes, Action<string, string> add)
    {
        if (runtimes is null)
        {
            add("containerRuntimes", "must not be null");
            return;
        }

        if (runtimes.Count > 8)
        {
            add("containerRuntimes", "has more than 8 runtimes");
            return;
        }

        for (var i = 0; i < runtimes.Count; i++)
        {
            var runtime = runtimes[i];
            if (runtime is null || !Enum.IsDefined(runtime.Name))
            {
                add($"containerRuntimes[{i}]", "must name podman or docker");
            }
            else if (runtime.Version is { } version && (version.Length > 100 || version.Any(char.IsControl)))
            {
                add($"containerRuntimes[{i}].version", "must be at most 100 printable characters");
            }
        }
    }
}
