namespace Gantry.Telemetry.Model;

/// <summary>
/// What one local inference server's metrics endpoint reported, with rates derived against
/// the previous sample. <paramref name="Kind"/> is <c>vllm</c>, <c>tgi</c> or <c>generic</c>.
/// Rates are null on the first sample and whenever a counter went backwards (a restart).
/// Tokens per joule use the GPU energy counters' deltas over the same interval.
/// </summary>
public sealed record AppSample(
    string Url,
    string? Kind,
    bool Up,
    string? Error,
    double? PromptTokensTotal,
    double? GeneratedTokensTotal,
    double? PromptTokensPerSecond,
    double? GeneratedTokensPerSecond,
    double? PromptTokensPerJoule,
    double? GeneratedTokensPerJoule);

/// <summary>
/// The node's power as the agent sees it: a power meter where there is one, otherwise the
/// sum of GPU power and CPU package and DRAM power (from RAPL deltas). <paramref name="CpuWatts"/>
/// is the CPU package and DRAM part from RAPL, also where a meter gives the whole; null without RAPL.
/// </summary>
public sealed record NodePowerSample(double Watts, string Source, double? EnvelopeWatts, bool? AboveEnvelope, double? CpuWatts = null);
