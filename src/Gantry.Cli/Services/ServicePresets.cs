using System.Globalization;
using Gantry.Core.Protocol;

namespace Gantry.Cli.Services;

/// <summary>What a preset makes of <c>gantry services run vllm|ollama --model M …</c>: the container, its arguments, port, health check and metrics path.</summary>
/// <param name="Container">The image and the published port.</param>
/// <param name="Command">The arguments passed to the image's entrypoint.</param>
/// <param name="Env">Environment the server in the image reads.</param>
/// <param name="Service">Port, health check, metrics path and the preset's name (the restart policy is the caller's).</param>
/// <param name="Note">What the person should know (printed on stderr); null for nothing.</param>
internal sealed record PresetOutput(ContainerSpec Container, IReadOnlyList<string> Command, IReadOnlyDictionary<string, string> Env, ServiceSpec Service, string? Note);

/// <summary>
/// The presets of <c>gantry services run</c> (docs/services.md). vLLM: the OpenAI-compatible server of
/// <c>vllm/vllm-openai</c>, health at <c>/health</c> after a long grace (a model loads for minutes), metrics
/// at <c>/metrics</c> (<c>vllm:generation_tokens_total</c>…). Ollama: <c>ollama/ollama</c> serving on its
/// port, health at <c>/</c> ("Ollama is running"); it has no <c>/metrics</c>, so it is measured by GPU
/// energy alone, and the preset does not pull the model (it must be in the mounted models folder, or be
/// pulled through Ollama's API once the service is up).
/// </summary>
internal static class ServicePresets
{
    public const string VllmImage = "docker.io/vllm/vllm-openai:latest";
    public const int VllmPort = 8000;

    /// <summary>vLLM loads the model before <c>/health</c> answers: minutes for a large one.</summary>
    public const double VllmGraceSeconds = 600;

    public const string OllamaImage = "docker.io/ollama/ollama:latest";
    public const int OllamaPort = 11434;

    /// <summary>Ollama answers <c>/</c> as soon as it serves; loading a model happens on the first request.</summary>
    public const double OllamaGraceSeconds = 120;

    /// <summary>The preset names.</summary>
    public static readonly IReadOnlyList<string> Names = ["vllm", "ollama"];

    /// <summary>
    /// vLLM: <c>--model M --port P [--max-model-len N] [--tensor-parallel-size T]</c>, where T defaults to
    /// the GPU count when it is more than 1 (otherwise the extra GPUs would sit idle).
    /// </summary>
    public static PresetOutput Vllm(string model, int gpus, int? port, int? maxModelLen, int? tensorParallel, string? image)
    {
        ArgumentException.ThrowIfNullOrEmpty(model);
        var p = port ?? VllmPort;
        var args = new List<string> { "--model", model, "--port", Text(p) };
        if (maxModelLen is { } length)
        {
            args.Add("--max-model-len");
            args.Add(Text(length));
        }

        var parallel = tensorParallel ?? (gpus > 1 ? gpus : null);
        if (parallel is { } t)
        {
            args.Add("--tensor-parallel-size");
            args.Add(Text(t));
        }

        return new PresetOutput(
            new ContainerSpec { Image = image ?? VllmImage, Ports = [new PortMapping { ContainerPort = p }] },
            args,
            new Dictionary<string, string>(StringComparer.Ordinal),
            new ServiceSpec
            {
                Port = p,
                Health = new HealthCheck { Kind = HealthCheckKind.Http, Port = p, Path = "/health", GraceSeconds = VllmGraceSeconds },
                MetricsPath = "/metrics",
                Preset = "vllm",
            },
            Note: null);
    }

    /// <summary>Ollama: <c>serve</c> on <c>0.0.0.0:P</c> (<c>OLLAMA_HOST</c>); no metrics endpoint.</summary>
    public static PresetOutput Ollama(string model, int? port, string? image)
    {
        ArgumentException.ThrowIfNullOrEmpty(model);
        var p = port ?? OllamaPort;
        return new PresetOutput(
            new ContainerSpec { Image = image ?? OllamaImage, Ports = [new PortMapping { ContainerPort = p }] },
            ["serve"],
            new Dictionary<string, string>(StringComparer.Ordinal) { ["OLLAMA_HOST"] = "0.0.0.0:" + Text(p) },
            new ServiceSpec
            {
                Port = p,
                Health = new HealthCheck { Kind = HealthCheckKind.Http, Port = p, Path = "/", GraceSeconds = OllamaGraceSeconds },
                MetricsPath = null,
                Preset = "ollama",
            },
            Note: $"ollama has no /metrics: measured by GPU energy alone. The preset does not pull {model}: mount a models folder that has it "
                + $"(--volume /var/lib/ollama:/root/.ollama) or pull it once the service is up (curl http://NODE:{Text(p)}/api/pull -d '{{\"model\":\"{model}\"}}').");
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}
