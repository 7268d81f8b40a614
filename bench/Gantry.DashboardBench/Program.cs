using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Gantry.Testing;
using Microsoft.Playwright;

namespace Gantry.DashboardBench;

/// <summary>
/// Starts <c>gantry server</c>, registers synthetic nodes through the API (<see cref="SyntheticNodes"/>),
/// heartbeats them, and measures the dashboard in headless Chromium: load times of <c>/nodes</c> and
/// <c>/</c>, the SSE events the page receives (size, interval, from the DevTools protocol), the browser's
/// time per live update (the page's own event handlers, timed by an init script) and the server's CPU.
/// Prints a Markdown table on stdout; progress goes to stderr.
/// </summary>
internal static class Program
{
    // Wraps every EventSource handler the page installs: handler time, and time to the next animation
    // frame (style, layout and paint of what the handler changed). Long tasks come from the browser.
    private const string InitScript = """
        (() => {
          const stats = window.__gantryBench = { updates: [], longTasks: [] };
          const wrap = fn => function (ev) {
            const t0 = performance.now();
            try { return fn.apply(this, arguments); }
            finally {
              const t1 = performance.now();
              requestAnimationFrame(() => stats.updates.push({ type: ev.type, chars: (ev.data || '').length, handler: t1 - t0, frame: performance.now() - t0 }));
            }
          };
          const proto = window.EventSource && window.EventSource.prototype;
          if (proto) {
            const add = proto.addEventListener;
            proto.addEventListener = function (type, fn, options) { return add.call(this, type, typeof fn === 'function' ? wrap(fn) : fn, options); };
            const onmessage = Object.getOwnPropertyDescriptor(proto, 'onmessage');
            Object.defineProperty(proto, 'onmessage', { configurable: true, get: onmessage.get, set(fn) { onmessage.set.call(this, typeof fn === 'function' ? wrap(fn) : fn); } });
          }
          try { new PerformanceObserver(list => { for (const e of list.getEntries()) stats.longTasks.push(e.duration); }).observe({ type: 'longtask', buffered: true }); } catch { }
        })();
        """;

    private static async Task<int> Main(string[] args)
    {
        var options = Settings.Parse(args);
        if (options is null)
        {
            Console.Error.WriteLine("usage: Gantry.DashboardBench [--nodes 500] [--gpus 8] [--heartbeat 5] [--loads 5] [--observe 60]");
            return 2;
        }

        Chromium.Require();
        var root = Directory.CreateTempSubdirectory("gantry-dashboard-bench-").FullName;
        var joinToken = "gjoin_bench-" + Guid.NewGuid().ToString("N");
        var dataDir = Path.Combine(root, "data");
        await using var server = GantryProcess.Start(["server", "--listen", $"127.0.0.1:{Tools.FreePort()}", "--data-dir", dataDir, "--join-token", joinToken, "--heartbeat-interval", $"{options.HeartbeatSeconds}s", "--down-after", "300s"]);
        var url = (await server.WaitForListeningAsync(TimeSpan.FromSeconds(60))).TrimEnd('/');
        var adminToken = (await File.ReadAllTextAsync(Path.Combine(dataDir, "admin.token"))).Trim();

        Progress($"registering {options.Nodes} nodes × {options.Gpus} GPUs");
        await using var nodes = await SyntheticNodes.RegisterAsync(new Uri(url), joinToken, options.Nodes, options.Gpus, parallel: 8, CancellationToken.None);
        await nodes.HeartbeatAllAsync(parallel: 8, CancellationToken.None);
        nodes.StartHeartbeating(TimeSpan.FromSeconds(options.HeartbeatSeconds), parallel: 8);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = Chromium.ExecutablePath, Headless = true, Args = Chromium.Arguments });
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = url, ViewportSize = new ViewportSize { Width = 1440, Height = 900 } });
        context.SetDefaultTimeout(120_000);
        await context.AddInitScriptAsync(InitScript);
        var page = await context.NewPageAsync();
        await page.GotoAsync("/login");
        await page.Locator("input#token").FillAsync(adminToken);
        await page.Locator("button#login-submit").ClickAsync();
        await page.WaitForURLAsync(u => !new Uri(u).AbsolutePath.StartsWith("/login", StringComparison.Ordinal));

        var rows = new List<(string Name, string Value)>
        {
            ("nodes × GPUs", $"{options.Nodes} × {options.Gpus}"),
            ("heartbeat interval (every node)", $"{options.HeartbeatSeconds} s"),
        };
        foreach (var path in new[] { "/nodes", "/" })
        {
            Progress($"loading {path} {options.Loads} times");
            var loads = new List<Load>();
            for (var i = 0; i < options.Loads; i++)
            {
                loads.Add(await LoadAsync(page, path, options.Nodes));
            }

            rows.Add(($"{path}: HTML bytes (decoded / on the wire)", $"{loads[^1].DecodedBytes:N0} / {loads[^1].TransferBytes:N0}"));
            rows.Add(($"{path}: time to first byte, ms (median of {options.Loads})", Median(loads, l => l.FirstByteMs)));
            rows.Add(($"{path}: DOMContentLoaded, ms", Median(loads, l => l.DomContentLoadedMs)));
            rows.Add(($"{path}: load event, ms", Median(loads, l => l.LoadMs)));
            rows.Add(($"{path}: navigation to live (data-live=open{(path == "/nodes" ? ", every row present" : "")}), ms", Median(loads, l => l.LiveMs)));
        }

        Progress($"watching /nodes for {options.ObserveSeconds} s");
        var cdp = await context.NewCDPSessionAsync(page);
        var events = new List<(double Timestamp, int Bytes)>();
        cdp.Event("Network.eventSourceMessageReceived").OnEvent += (_, e) =>
        {
            if (e is { } json)
            {
                lock (events)
                {
                    events.Add((json.GetProperty("timestamp").GetDouble(), Encoding.UTF8.GetByteCount(json.GetProperty("data").GetString() ?? "")));
                }
            }
        };
        await cdp.SendAsync("Network.enable");
        await LoadAsync(page, "/nodes", options.Nodes);
        await page.EvaluateAsync("() => { window.__gantryBench.updates = []; window.__gantryBench.longTasks = []; }");
        var cpuBefore = CpuSeconds(server.Id);
        var watch = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(options.ObserveSeconds));
        var serverCpu = CpuSeconds(server.Id) - cpuBefore;
        var elapsed = watch.Elapsed.TotalSeconds;
        var stats = await page.EvaluateAsync<JsonElement>("() => window.__gantryBench");

        (double Timestamp, int Bytes)[] seen;
        lock (events)
        {
            seen = [.. events];
        }

        var intervals = seen.Zip(seen.Skip(1), (a, b) => (b.Timestamp - a.Timestamp) * 1000).ToList();
        rows.Add(("SSE events received on /nodes", $"{seen.Length} in {elapsed:F0} s"));
        rows.Add(("SSE event size, bytes (median / max)", seen.Length == 0 ? "n/a" : $"{Percentile([.. seen.Select(s => (double)s.Bytes)], 0.5):N0} / {seen.Max(s => s.Bytes):N0}"));
        rows.Add(("SSE interval, ms (median / p95)", intervals.Count == 0 ? "n/a" : $"{Percentile(intervals, 0.5):F0} / {Percentile(intervals, 0.95):F0}"));
        var updates = stats.GetProperty("updates").EnumerateArray().ToList();
        var handler = updates.Select(u => u.GetProperty("handler").GetDouble()).ToList();
        var frame = updates.Select(u => u.GetProperty("frame").GetDouble()).ToList();
        rows.Add(("live updates handled by the page", updates.Count.ToString(CultureInfo.InvariantCulture)));
        rows.Add(("browser: event handler, ms (median / p95 / max)", handler.Count == 0 ? "n/a" : $"{Percentile(handler, 0.5):F1} / {Percentile(handler, 0.95):F1} / {handler.Max():F1}"));
        rows.Add(("browser: handler to next frame painted, ms (median / p95 / max)", frame.Count == 0 ? "n/a" : $"{Percentile(frame, 0.5):F1} / {Percentile(frame, 0.95):F1} / {frame.Max():F1}"));
        var longTasks = stats.GetProperty("longTasks").EnumerateArray().Select(t => t.GetDouble()).ToList();
        rows.Add(("browser: long tasks (> 50 ms) while watching", longTasks.Count == 0 ? "0" : $"{longTasks.Count} (max {longTasks.Max():F0} ms)"));
        rows.Add(("server CPU while watching (heartbeats + SSE), % of one core", $"{100 * serverCpu / elapsed:F1}"));
        rows.Add(("heartbeats answered / failed (whole run)", $"{nodes.Heartbeats:N0} / {nodes.Failures:N0}"));

        Console.WriteLine("| measure | value |");
        Console.WriteLine("|---|---:|");
        foreach (var (name, value) in rows)
        {
            Console.WriteLine($"| {name} | {value} |");
        }

        await context.CloseAsync();
        await server.StopAsync();
        try
        {
            Directory.Delete(root, recursive: true);
        }
        catch (IOException)
        {
            // Left to the OS's temp cleaning.
        }

        return 0;
    }

    /// <summary>Navigates to <paramref name="path"/>, waits until it is live (and, on /nodes, every row is there), and reads the Navigation Timing entry.</summary>
    private static async Task<Load> LoadAsync(IPage page, string path, int nodeCount)
    {
        var watch = Stopwatch.StartNew();
        await page.GotoAsync(path, new PageGotoOptions { WaitUntil = WaitUntilState.Load });
        if (path == "/nodes")
        {
            await Assertions.Expect(page.Locator("table#nodes tr[data-node]")).ToHaveCountAsync(nodeCount, new LocatorAssertionsToHaveCountOptions { Timeout = 120_000 });
        }

        await Assertions.Expect(page.Locator("html")).ToHaveAttributeAsync("data-live", "open", new LocatorAssertionsToHaveAttributeOptions { Timeout = 120_000 });
        var live = watch.Elapsed.TotalMilliseconds;
        var timing = await page.EvaluateAsync<JsonElement>("() => performance.getEntriesByType('navigation')[0].toJSON()");
        return new Load(
            timing.GetProperty("responseStart").GetDouble(),
            timing.GetProperty("domContentLoadedEventEnd").GetDouble(),
            timing.GetProperty("loadEventEnd").GetDouble(),
            live,
            timing.GetProperty("decodedBodySize").GetInt64(),
            timing.GetProperty("transferSize").GetInt64());
    }

    /// <summary>utime + stime of a process, from /proc/PID/stat.</summary>
    private static double CpuSeconds(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the command name; clock ticks of 10 ms.
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
    }

    private static string Median(List<Load> loads, Func<Load, double> of) =>
        $"{Percentile([.. loads.Select(of)], 0.5):F0} (min {loads.Min(of):F0}, max {loads.Max(of):F0})";

    private static double Percentile(List<double> values, double p)
    {
        var sorted = values.Order().ToList();
        return sorted[Math.Min(sorted.Count - 1, (int)Math.Floor(p * sorted.Count))];
    }

    private static void Progress(string message) => Console.Error.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] {message}");

    private sealed record Load(double FirstByteMs, double DomContentLoadedMs, double LoadMs, double LiveMs, long DecodedBytes, long TransferBytes);

    private sealed record Settings(int Nodes, int Gpus, int HeartbeatSeconds, int Loads, int ObserveSeconds)
    {
        public static Settings? Parse(string[] args)
        {
            var s = new Settings(500, 8, 5, 5, 60);
            for (var i = 0; i + 1 < args.Length; i += 2)
            {
                if (!int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var v) || v <= 0)
                {
                    return null;
                }

                s = args[i] switch
                {
                    "--nodes" => s with { Nodes = v },
                    "--gpus" => s with { Gpus = v },
                    "--heartbeat" => s with { HeartbeatSeconds = v },
                    "--loads" => s with { Loads = v },
                    "--observe" => s with { ObserveSeconds = v },
                    _ => null,
                };
                if (s is null)
                {
                    return null;
                }
            }

            return args.Length % 2 == 0 ? s : null;
        }
    }
}
