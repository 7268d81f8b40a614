using Gantry.Core.Protocol;
using Gantry.Server.Nodes;
using Gantry.Telemetry.Exposition;

namespace Gantry.Server.Services;

/// <summary>
/// Each live service's figures on the server's <c>/metrics</c> (docs/metrics.md), from one list of
/// views copied before writing (no lock held). Series carry <c>service</c> (the job's name, or
/// <c>job-ID</c>), <c>job</c> (its id) and <c>node</c> (its node's name); a figure not measured is left out.
/// </summary>
internal static class ServiceMetricsExposition
{
    public static void Render(PrometheusTextWriter w, IReadOnlyList<ServiceView> services, NodeRegistry nodes)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(nodes);
        var names = new string[services.Count];
        for (var i = 0; i < names.Length; i++)
        {
            names[i] = nodes.NodeName(services[i].NodeId) ?? services[i].NodeId;
        }

        w.Family("gantry_server_service_healthy", "gauge", "1 while a service passes its health check (or runs, without one), 0 while starting or unhealthy, by its agent's last report.");
        for (var i = 0; i < names.Length; i++)
        {
            var s = services[i];
            Labels(w, s, names[i]).Value(s.Health == ServiceHealth.Healthy ? 1 : 0);
        }

        Figure(w, services, names, "gantry_server_service_generated_tokens_per_second", "Tokens a service generates per second (the rate of vllm:generation_tokens_total).", static m => m.GeneratedTokensPerSecond);
        Figure(w, services, names, "gantry_server_service_prompt_tokens_per_second", "Prompt tokens a service processes per second (vllm:prompt_tokens_total).", static m => m.PromptTokensPerSecond);
        Figure(w, services, names, "gantry_server_service_requests_running", "Requests a service is running (vllm:num_requests_running).", static m => m.RequestsRunning);
        Figure(w, services, names, "gantry_server_service_requests_waiting", "Requests waiting in a service's queue (vllm:num_requests_waiting).", static m => m.RequestsWaiting);
        Figure(w, services, names, "gantry_server_service_gpu_power_watts", "Power of a service's GPUs together, from its attempt's GPU energy.", static m => m.GpuPowerWatts);
        Figure(w, services, names, "gantry_server_service_tokens_per_joule", "Tokens a service generates per joule of its GPUs' energy.", static m => m.TokensPerJoule);
    }

    private static void Figure(PrometheusTextWriter w, IReadOnlyList<ServiceView> services, string[] names, string name, string help, Func<ServiceMetricsInfo, double?> read)
    {
        w.Family(name, "gauge", help);
        for (var i = 0; i < names.Length; i++)
        {
            if (services[i].Metrics is { } metrics && read(metrics) is { } value && double.IsFinite(value))
            {
                Labels(w, services[i], names[i]).Value(value);
            }
        }
    }

    private static PrometheusTextWriter Labels(PrometheusTextWriter w, ServiceView s, string node) =>
        w.Begin().Label("service", s.DisplayName).Label("job", s.JobId).Label("node", node);
}
