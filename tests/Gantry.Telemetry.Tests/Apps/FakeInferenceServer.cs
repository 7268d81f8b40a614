using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Gantry.Telemetry.Tests.Apps;

/// <summary>A tiny inference-server stand-in on a real Kestrel socket, serving scripted metrics.</summary>
public sealed class FakeInferenceServer : IAsyncLifetime
{
    private readonly Dictionary<string, int> _hits = [];
    private readonly TaskCompletionSource _barrier = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _barrierArrivals;
    private WebApplication? _app;

    public string BaseUrl { get; private set; } = "";

    // Two scrapes of each server; counters grow between them.
    private static readonly string[] Vllm =
    [
        """
        # HELP vllm:num_requests_running Number of requests currently running on GPU.
        # TYPE vllm:num_requests_running gauge
        vllm:num_requests_running{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 3.0
        # HELP vllm:prompt_tokens_total Number of prefill tokens processed.
        # TYPE vllm:prompt_tokens_total counter
        vllm:prompt_tokens_total{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1000.0
        vllm:prompt_tokens_total{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 500.0
        # HELP vllm:prompt_tokens_created Number of prefill tokens processed.
        # TYPE vllm:prompt_tokens_created gauge
        vllm:prompt_tokens_created{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1.7180000e+09
        # HELP vllm:generation_tokens_total Number of generation tokens processed.
        # TYPE vllm:generation_tokens_total counter
        vllm:generation_tokens_total{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 2.0e+03
        vllm:generation_tokens_total{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1000.0

        """,
        "vllm:prompt_tokens_total{engine=\"0\"} 4000.0\r\nvllm:prompt_tokens_total{engine=\"1\"} 500.0\r\n"
            + "vllm:generation_tokens_total{engine=\"0\"} 1.0e+04\r\nvllm:generation_tokens_total{engine=\"1\"} 3000\r\n",
    ];

    private static readonly string[] Tgi =
    [
        """
        # TYPE tgi_request_generated_tokens histogram
        tgi_request_generated_tokens_bucket{le="1"} 0
        tgi_request_generated_tokens_bucket{le="+Inf"} 4
        tgi_request_generated_tokens_sum 812
        tgi_request_generated_tokens_count 4
        # TYPE tgi_request_input_length histogram
        tgi_request_input_length_bucket{le="+Inf"} 4
        tgi_request_input_length_sum 2048
        tgi_request_input_length_count 4
        tgi_queue_size 0
        """,
        """
        tgi_request_generated_tokens_sum 1000
        tgi_request_input_length_sum 3000
        tgi_queue_size 1
        """,
    ];

    private static readonly string[] Generic =
    [
        """
        # TYPE model_tokens_total counter
        model_tokens_total{model="a",type="prompt"} 10
        model_tokens_total{model="b",type="prompt"} 5
        model_tokens_total{model="a",type="generated"} 7
        model_tokens_total{model="b"} 3
        model_tokens_total{model="c",type="other"} 1
        """,
        """
        model_tokens_total{model="a",type="prompt"} 20
        model_tokens_total{model="b",type="prompt"} 5
        model_tokens_total{model="a",type="generated"} 17
        model_tokens_total{model="b"} 3
        model_tokens_total{model="c",type="other"} 1
        """,
    ];

    public string Url(string path) => BaseUrl + path;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        app.MapGet("/vllm", () => Scripted("vllm", Vllm));
        app.MapGet("/tgi", () => Scripted("tgi", Tgi));
        app.MapGet("/generic", () => Scripted("generic", Generic));
        app.MapGet("/plain", () => Results.Text("# TYPE up gauge\nup 1\n", "text/plain; version=0.0.4"));
        app.MapGet("/unavailable", () => Results.StatusCode(503));
        app.MapGet("/slow", async (HttpContext context) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(30), context.RequestAborted);
            return Results.Text("up 1\n");
        });
        app.MapGet("/barrier", async (HttpContext context) =>
        {
            // Answers only once two requests are in flight together: a sequential scraper never gets here.
            if (Interlocked.Increment(ref _barrierArrivals) == 2)
            {
                _barrier.TrySetResult();
            }

            await _barrier.Task.WaitAsync(TimeSpan.FromSeconds(20), context.RequestAborted);
            return Results.Text("vllm:generation_tokens_total 1\n");
        });
        await app.StartAsync();
        _app = app;
        BaseUrl = app.Urls.Single();
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
    }

    private IResult Scripted(string key, string[] bodies)
    {
        int hit;
        lock (_hits)
        {
            hit = _hits.GetValueOrDefault(key);
            _hits[key] = hit + 1;
        }

        return Results.Text(bodies[Math.Min(hit, bodies.Length - 1)], "text/plain; version=0.0.4; charset=utf-8");
    }
}
