using System.Text.Json.Serialization;

namespace Gantry.Core.Protocol;

/// <summary>The container runtimes an agent can run a job's image with (docs/containers-jobs.md).</summary>
[JsonConverter(typeof(CamelCaseEnumConverter<ContainerRuntime>))]
public enum ContainerRuntime
{
    /// <summary>podman (the default): GPUs passed as CDI devices, <c>nvidia.com/gpu=&lt;uuid&gt;</c>.</summary>
    Podman,

    /// <summary>docker: GPUs passed with <c>--gpus device=&lt;uuid&gt;,…</c>.</summary>
    Docker,
}

/// <summary>A job that runs in a container: <c>gantry jobs submit --image IMAGE [--runtime] [--port] [--volume] -- ARGS…</c>.</summary>
public sealed record ContainerSpec
{
    /// <summary>The image reference, as the runtime names it (<c>vllm/vllm-openai:v0.6.3</c>, <c>localhost/model:1</c>).</summary>
    public required string Image { get; init; }

    /// <summary>The runtime that runs it; podman when not given.</summary>
    public ContainerRuntime Runtime { get; init; } = ContainerRuntime.Podman;

    // Settable, as JobSubmission.Env: JSON source generation sets a missing init-only property to null.

    /// <summary>Ports published on the node.</summary>
    public IReadOnlyList<PortMapping> Ports { get; set; } = [];

    /// <summary>Host paths mounted into the container.</summary>
    public IReadOnlyList<VolumeMount> Volumes { get; set; } = [];
}

/// <summary>A container port published on the node (<c>--port 8000</c> or <c>--port 18000:8000</c>).</summary>
public sealed record PortMapping
{
    /// <summary>The port inside the container, 1–65535.</summary>
    public required int ContainerPort { get; init; }

    /// <summary>The port on the node, 1–65535; null for the same as <see cref="ContainerPort"/>.</summary>
    public int? HostPort { get; init; }
}

/// <summary>A host path mounted into the container (<c>--volume HOST:CONTAINER[:ro]</c>).</summary>
public sealed record VolumeMount
{
    /// <summary>Absolute path on the node.</summary>
    public required string HostPath { get; init; }

    /// <summary>Absolute path in the container.</summary>
    public required string ContainerPath { get; init; }

    /// <summary>Mounted read-only.</summary>
    public bool ReadOnly { get; init; }
}

/// <summary>A container runtime an agent found on its node, with its version: part of the node's facts.</summary>
public sealed record ContainerRuntimeInfo
{
    /// <summary>Which runtime.</summary>
    public required ContainerRuntime Name { get; init; }

    /// <summary>Its version as it reports it (<c>4.3.1</c>); null when it would not say.</summary>
    public string? Version { get; init; }
}
