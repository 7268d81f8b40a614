using System.Net;
using System.Net.Sockets;
using System.Text;
using Gantry.Agent.Jobs;
using Gantry.Agent.Services;
using Gantry.Agent.Tests.Jobs;
using Gantry.Core.Protocol;
using Gantry.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gantry.Agent.Tests.Services;

/// <summary>
/// The service monitor with the real job runner running the stand-in inference server
/// (tests/native/fake_inference.c) as the service: its checks, its reports and the stop of an
/// unhealthy attempt. Intervals are short so the tests are quick; waits are bounded generously.
/// </summary>
public sealed class ServiceMonitorTests : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private readonly string _stateDir = Directory.CreateTempSubdirectory("gantry-services-").FullName;
    private readonly RecordingSink _sink = new();
    private ServiceMonitor _monitor = null!;
    private JobRunner _runner = null!;

    public Task InitializeAsync()
    {
        _monitor = new ServiceMonitor(new HttpClient(), TimeProvider.System, NullLogger<ServiceMonitor>.Instance, TimeSpan.FromMilliseconds(200));
        _runner = new JobRunner(_sink, _stateDir, TimeProvider.System, NullLogger<JobRunner>.Instance) { NodeId = "node-a", Services = _monitor };
        _monitor.StopUnhealthy = _runner.StopUnhealthy;
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _runner.DisposeAsync();
        await _monitor.DisposeAsync();
        Directory.Delete(_stateDir, recursive: true);
    }

    private static Assignment Service(long jobId, int port, HealthCheck? health, string? metricsPath = "/metrics", params string[] serverOptions) => new()
    {
        JobId = jobId,
        Attempt = 1,
        Epoch = jobId * 10,
        Action = AssignmentAction.Run,
        Command = FakeInference.Command(port, serverOptions),
        Gpus = [],
        Cpus = 1,
        MemoryBytes = 1 << 20,
        KillGraceSeconds = 5,
        AllowRoot = true,
        Kind = JobKind.Service,
        Service = new ServiceSpec { Port = port, Health = health, MetricsPath = metricsPath },
    };

    private static HealthCheck Http(int port, double grace = 30, int failures = 3) =>
        new() { Kind = HealthCheckKind.Http, Port = port, Path = "/health", GraceSeconds = grace, IntervalSeconds = 0.2, TimeoutSeconds = 2, FailuresBeforeUnhealthy = failures };

    private async Task<ServiceReport> ReportAsync(long jobId, Func<ServiceReport, bool> until)
    {
        var deadline = DateTime.UtcNow + Patience;
        ServiceReport? last = null;
        while (DateTime.UtcNow < deadline)
        {
            last = _monitor.Reports()?.SingleOrDefault(r => r.JobId == jobId);
            if (last is not null && until(last))
            {
                return last;
            }

            await Task.Delay(50);
        }

        Assert.Fail($"no report of job {jobId} came to the expected state within {Patience}; the last was {last}");
        return null!;
    }

    [Fact]
    public async Task Started_HttpCheckOnTheStandIn_StartingThenHealthyWithItsCounters()
    {
        var port = Tools.FreePort();
        var job = Service(1, port, Http(port), "/metrics", "--tokens-per-second", "500", "--running", "3", "--waiting", "4");

        Assert.True(_runner.Start(job));
        var first = _monitor.Reports()!.Single();
        Assert.Equal(ServiceHealth.Starting, first.Health);

        var healthy = await ReportAsync(1, r => r.Health == ServiceHealth.Healthy && r.GeneratedTokensTotal > 0);
        Assert.Null(healthy.Message);
        Assert.Equal(1, healthy.Attempt);
        Assert.NotNull(healthy.ScrapedAt);
        Assert.Equal(3, healthy.RequestsRunning);
        Assert.Equal(4, healthy.RequestsWaiting);
        Assert.NotNull(healthy.PromptTokensTotal);
        Assert.Null(healthy.MetricsError);

        // The counters grow between reads.
        var before = healthy.GeneratedTokensTotal!.Value;
        await ReportAsync(1, r => r.GeneratedTokensTotal > before);

        _runner.Stop(AttemptKey.Of(job), AttemptEndCause.Stopped);
        var ended = await _sink.EndedAsync(AttemptKey.Of(job));
        Assert.Equal(AttemptEndCause.Stopped, ended.Cause);
        Assert.Null(_monitor.Reports());
    }

    [Fact]
    public async Task Check_FailingPastTheGrace_UnhealthyAndStoppedWithThatCause()
    {
        var port = Tools.FreePort();
        var job = Service(2, port, Http(port, grace: 0.5, failures: 3), null, "--unhealthy-after", "0");

        Assert.True(_runner.Start(job));
        var ended = await _sink.EndedAsync(AttemptKey.Of(job)).WaitAsync(Patience);

        Assert.Equal(AttemptEndCause.Unhealthy, ended.Cause);
        Assert.Contains("health check failed 3 times in a row", ended.Message, StringComparison.Ordinal);
        Assert.Contains("503", ended.Message, StringComparison.Ordinal);
        Assert.Null(_monitor.Reports());
    }

    [Fact]
    public async Task Check_FailingWithinTheGrace_StaysStartingAndRuns()
    {
        var port = Tools.FreePort();
        var marker = Path.Combine(_stateDir, "unhealthy");
        await File.WriteAllTextAsync(marker, "");
        var job = Service(3, port, Http(port, grace: 60, failures: 1), null, "--unhealthy-file", marker);

        Assert.True(_runner.Start(job));

        // Failures are said (the message) but not counted: it stays starting and keeps running.
        // (The first checks may find nothing listening yet: connection refused.)
        var failing = await ReportAsync(3, r => r.Message?.Contains("503", StringComparison.Ordinal) == true);
        Assert.Equal(ServiceHealth.Starting, failing.Health);
        await Task.Delay(1000);
        Assert.True(_runner.IsRunning(AttemptKey.Of(job)));
        Assert.Equal(ServiceHealth.Starting, _monitor.Reports()!.Single().Health);

        // Once it answers, it is healthy.
        File.Delete(marker);
        await ReportAsync(3, r => r.Health == ServiceHealth.Healthy && r.Message is null);
    }

    [Fact]
    public async Task Check_HealthyThenFailing_UnhealthyAfterTheFailuresInARow()
    {
        var port = Tools.FreePort();
        var marker = Path.Combine(_stateDir, "later");
        var job = Service(4, port, Http(port, grace: 0, failures: 2), null, "--unhealthy-file", marker);

        Assert.True(_runner.Start(job));
        await ReportAsync(4, r => r.Health == ServiceHealth.Healthy);
        await File.WriteAllTextAsync(marker, "");

        var ended = await _sink.EndedAsync(AttemptKey.Of(job)).WaitAsync(Patience);
        Assert.Equal(AttemptEndCause.Unhealthy, ended.Cause);
        Assert.Contains("2 times in a row", ended.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TcpCheck_PortOpen_Healthy_ClosedPastTheGrace_Unhealthy()
    {
        var port = Tools.FreePort();
        var open = Service(5, port, new HealthCheck { Kind = HealthCheckKind.Tcp, Port = port, GraceSeconds = 30, IntervalSeconds = 0.2, TimeoutSeconds = 2 }, null);
        Assert.True(_runner.Start(open));
        await ReportAsync(5, r => r.Health == ServiceHealth.Healthy);

        // A service whose check names a port nobody listens on.
        var closedPort = Tools.FreePort();
        var other = Tools.FreePort();
        var closed = Service(6, other, new HealthCheck { Kind = HealthCheckKind.Tcp, Port = closedPort, GraceSeconds = 0.3, IntervalSeconds = 0.2, TimeoutSeconds = 2, FailuresBeforeUnhealthy = 2 }, null);
        Assert.True(_runner.Start(closed));
        var ended = await _sink.EndedAsync(AttemptKey.Of(closed)).WaitAsync(Patience);
        Assert.Equal(AttemptEndCause.Unhealthy, ended.Cause);
        Assert.Contains($"TCP 127.0.0.1:{closedPort}", ended.Message, StringComparison.Ordinal);
        Assert.True(_runner.IsRunning(AttemptKey.Of(open)));
    }

    [Fact]
    public async Task Metrics_EndpointMissing_ErrorReportedWithoutCounters()
    {
        var port = Tools.FreePort();
        var job = Service(7, port, null, "/nothing-here");

        Assert.True(_runner.Start(job));
        var report = await ReportAsync(7, r => r.MetricsError?.Contains("404", StringComparison.Ordinal) == true);

        // No check: healthy while it runs.
        Assert.Equal(ServiceHealth.Healthy, report.Health);
        Assert.Null(report.ScrapedAt);
        Assert.Null(report.GeneratedTokensTotal);
    }

    [Fact]
    public async Task Started_BatchAttempt_NotWatched()
    {
        var job = JobRunnerTests.Shell(8, "sleep 5");

        Assert.True(_runner.Start(job));
        await _sink.StartedAsync(AttemptKey.Of(job));

        Assert.Equal(0, _monitor.Count);
        Assert.Null(_monitor.Reports());
    }

    [Fact]
    public void Parse_SeveralModels_SummedPerName()
    {
        var body = """
            # TYPE vllm:generation_tokens_total counter
            vllm:generation_tokens_total{model_name="a"} 100
            vllm:generation_tokens_total{model_name="b"} 50.5
            vllm:prompt_tokens_total{model_name="a"} 7
            vllm:num_requests_running{model_name="a"} 1
            vllm:num_requests_running{model_name="b"} 2
            vllm:num_requests_waiting{model_name="a"} NaN
            other_metric 3
            """u8;

        var counters = ServiceProbe.Parse(body);

        Assert.Null(counters.Error);
        Assert.Equal(150.5, counters.GeneratedTokensTotal);
        Assert.Equal(7, counters.PromptTokensTotal);
        Assert.Equal(3, counters.RequestsRunning);
        Assert.Null(counters.RequestsWaiting);
    }

    [Fact]
    public void Parse_NoVllmMetrics_AnError()
    {
        var counters = ServiceProbe.Parse(Encoding.UTF8.GetBytes("# an ollama server has none\nprocess_cpu_seconds_total 1\n"));

        Assert.NotNull(counters.Error);
        Assert.Null(counters.GeneratedTokensTotal);
    }

    [Fact]
    public async Task Check_TimesOut_WithinItsTimeout()
    {
        // A listener that accepts and never answers: the HTTP check ends at its timeout.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var http = new HttpClient();
        var check = new HealthCheck { Kind = HealthCheckKind.Http, Port = port, Path = "/health", TimeoutSeconds = 0.3 };

        var failure = await ServiceProbe.CheckAsync(http, check, "127.0.0.1", TimeProvider.System, CancellationToken.None).WaitAsync(Patience);

        Assert.Contains("timed out after 0.3 s", failure, StringComparison.Ordinal);
    }
}
