namespace Gantry.Core.Jobs;

/// <summary>What one job (or one array task) needs from a node. Memory is in bytes.</summary>
public sealed record ResourceRequest
{
    /// <summary>Whole GPUs; 0 for a CPU-only job.</summary>
    public int Gpus { get; init; }

    /// <summary>Least total memory each GPU must have; 0 for any.</summary>
    public long GpuMemoryBytes { get; init; }

    /// <summary>GPU model the job needs, matched case-insensitively as a substring of the model name ("H100" matches "NVIDIA H100 80GB HBM3"); null for any.</summary>
    public string? GpuModel { get; init; }

    /// <summary>CPU cores reserved for the job.</summary>
    public int Cpus { get; set; } = 1;

    /// <summary>Host memory reserved for the job; 0 reserves none.</summary>
    public long MemoryBytes { get; init; }

    /// <summary>Whether a GPU of <paramref name="model"/> with <paramref name="memoryBytes"/> suits this request.</summary>
    public bool Accepts(string model, long memoryBytes) =>
        memoryBytes >= GpuMemoryBytes
        && (GpuModel is null || model.Contains(GpuModel, StringComparison.OrdinalIgnoreCase));
}
