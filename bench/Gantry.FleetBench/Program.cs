using System.Diagnostics;
using System.Globalization;

namespace Gantry.FleetBench;

/// <summary>
/// Drives a fleet of simulated nodes against a running <c>gantry server</c> (bench/fleet.sh starts
/// one): registers them, heartbeats them on an open-loop schedule, and runs the scenarios asked for:
/// <c>steady</c> (heartbeats only), <c>blip</c> (every node silent past its lease, then all back at
/// once) and <c>placement</c> (an array of jobs submitted with the gantry CLI while the fleet
/// heartbeats). Progress goes to stderr; the figures are <c>phase.key=value</c> lines (stdout or
/// <c>--results FILE</c>).
/// </summary>
internal static class Program
{
    private const string Usage = """
        usage: Gantry.FleetBench --server URL --join-token TOKEN --admin-token TOKEN [options]
          --nodes N               simulated nodes (default 10000)
          --gpus N                GPUs per node (default 8)
          --connections N         keep-alive connections for heartbeats (default 128)
          --register-parallel N   registrations in flight (default 16)
          --interval SECONDS      heartbeat interval (default: what the server answers at registration)
          --scenarios LIST        comma-separated: steady, blip, placement (default steady)
          --duration SECONDS      length of the steady phase (default 60)
          --blip-pause SECONDS    silence in the blip scenario (default 3 intervals: past the lease of 2)
          --recovery SECONDS      heartbeats measured after the blip's burst, at least (default 3 intervals;
                                  longer, up to 120 s, until the server has counted every node ready
                                  for two intervals in a row)
          --jobs N                array size of the placement scenario (default 100000)
          --gantry PATH           the gantry binary whose CLI submits the array (placement)
          --placement-max SECONDS give up on placement after this long (default 600)
          --server-pid PID        the server's process, for its CPU and RSS
          --results FILE          write the figures there instead of stdout
        """;

    private static async Task<int> Main(string[] args)
    {
        if (Settings.Parse(args) is not { } settings)
        {
            await Console.Error.WriteLineAsync(Usage).ConfigureAwait(false);
            return 2;
        }

        using var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            stop.Cancel();
        };
        try
        {
            await RunAsync(settings, stop.Token).ConfigureAwait(false);
            return 0;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return 130;
        }
        catch (Exception ex) when (ex is InvalidOperationException or HttpRequestException)
        {
            Progress($"failed: {ex.Message}");
            return 1;
        }
    }

    private static async Task RunAsync(Settings settings, CancellationToken cancellationToken)
    {
        var results = new Results();
        using var metrics = new ServerMetrics(settings.Server, settings.AdminToken);
        using var fleet = new Fleet(settings.Server, settings.Nodes, settings.Gpus, settings.Connections);
        var window = new ResourceWindow(settings.ServerPid);
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
            while (await timer.WaitForNextTickAsync(sampling.Token).ConfigureAwait(false))
            {
                Volatile.Read(ref window).Sample();
            }
        }, CancellationToken.None);

        // ---- registration, with every registered node heartbeating already
        Progress($"registering {settings.Nodes:N0} nodes × {settings.Gpus} GPUs, {settings.RegisterParallel} at a time, over {settings.Connections} connections");
        var (marks, interval) = await fleet.RegisterAsync(settings.JoinToken, settings.RegisterParallel, settings.Interval, cancellationToken).ConfigureAwait(false);
        results.Add("fleet", "nodes", settings.Nodes);
        results.Add("fleet", "gpus_per_node", settings.Gpus);
        results.Add("fleet", "connections", settings.Connections);
        results.Add("fleet", "interval_s", interval.TotalSeconds, "0.###");
        results.Add("fleet", "heartbeat_body_bytes", fleet.BodyBytes);
        var registerSeconds = Phase.Seconds(marks[^1] - marks[0]);
        results.Add("register", "seconds", registerSeconds, "F1");
        results.Add("register", "rate", settings.Nodes / registerSeconds, "F0");
        var blocks = new List<string>();
        for (var b = 1; b < marks.Count; b++)
        {
            var size = Math.Min(1000, settings.Nodes - ((b - 1) * 1000));
            blocks.Add((size / Phase.Seconds(marks[b] - marks[b - 1])).ToString("F0", CultureInfo.InvariantCulture));
        }

        results.Add("register", "rate_per_1000", string.Join(' ', blocks));
        window.Report(results, "register");

        // ---- warm-up: one full round, then every node ready
        var warmup = interval < TimeSpan.FromSeconds(30) ? interval : TimeSpan.FromSeconds(30);
        Progress($"warm-up: {warmup.TotalSeconds:0.#} s (one interval, at most 30 s), then until the server counts every node ready");
        await Task.Delay(warmup, cancellationToken).ConfigureAwait(false);
        var ready = await WaitForAsync(metrics, m => m.Get(Samples.Nodes("ready")) >= settings.Nodes, TimeSpan.FromSeconds(120), cancellationToken).ConfigureAwait(false);
        if (ready is null)
        {
            Progress("warning: the server did not count every node ready within 120 s of warm-up");
        }

        foreach (var scenario in settings.Scenarios)
        {
            switch (scenario)
            {
                case "steady":
                    await SteadyAsync(settings, fleet, metrics, results, w => Volatile.Write(ref window, w), cancellationToken).ConfigureAwait(false);
                    break;
                case "blip":
                    await BlipAsync(settings, fleet, metrics, interval, results, w => Volatile.Write(ref window, w), cancellationToken).ConfigureAwait(false);
                    break;
                case "placement":
                    await PlacementAsync(settings, fleet, metrics, results, w => Volatile.Write(ref window, w), cancellationToken).ConfigureAwait(false);
                    break;
            }
        }

        await fleet.StopAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        await sampling.CancelAsync().ConfigureAwait(false);
        try
        {
            await sampler.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopped on purpose.
        }

        await results.WriteAsync(settings.Results, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>(a) Heartbeats only, for --duration.</summary>
    private static async Task SteadyAsync(Settings settings, Fleet fleet, ServerMetrics metrics, Results results, Action<ResourceWindow> track, CancellationToken cancellationToken)
    {
        Progress($"steady: {settings.Nodes:N0} nodes for {settings.Duration.TotalSeconds:0} s");
        var before = await metrics.ScrapeAsync(cancellationToken).ConfigureAwait(false);
        var window = new ResourceWindow(settings.ServerPid);
        track(window);
        var phase = new Phase("steady");
        fleet.Phase = phase;
        await Task.Delay(settings.Duration, cancellationToken).ConfigureAwait(false);
        fleet.Phase = new Phase("after-steady");
        phase.End();
        var cpu = window.Report(results, phase.Name);
        var after = await metrics.ScrapeAsync(cancellationToken).ConfigureAwait(false);
        await phase.DrainAsync(TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
        phase.Report(results);
        var heartbeats = after.Get(Samples.Heartbeats) - before.Get(Samples.Heartbeats);
        if (!double.IsNaN(heartbeats))
        {
            results.Add(phase.Name, "server_heartbeats_per_s", heartbeats / Phase.Seconds(phase.EndedAt - phase.StartedAt), "F0");
            if (cpu is { } c && heartbeats > 0)
            {
                // What a heartbeat costs the server, whatever else runs on the machine.
                results.Add(phase.Name, "server_cpu_us_per_heartbeat", 1e6 * c / heartbeats, "F0");
            }
        }

        var dropped = after.Get(Samples.TelemetryDropped) - before.Get(Samples.TelemetryDropped);
        if (!double.IsNaN(dropped))
        {
            results.Add(phase.Name, "telemetry_dropped", (long)dropped);
        }
    }

    /// <summary>
    /// (b) Every node stops heartbeating for --blip-pause (past the lease, so the server marks them
    /// suspect), then all of them heartbeat at once and the schedule goes on. Measured: the burst's
    /// latency, the time until every node was answered "ready" (the driver's view) and until the
    /// server's /metrics counted them all ready, and the heartbeats of the --recovery window after it.
    /// </summary>
    private static async Task BlipAsync(Settings settings, Fleet fleet, ServerMetrics metrics, TimeSpan interval, Results results, Action<ResourceWindow> track, CancellationToken cancellationToken)
    {
        var pause = settings.BlipPause ?? interval * 3;
        var recovery = settings.Recovery ?? interval * 3;
        Progress($"blip: silence for {pause.TotalSeconds:0.#} s (lease: {2 * interval.TotalSeconds:0.#} s)");
        fleet.Pause();
        fleet.Phase = new Phase("blip-silence");
        await Task.Delay(pause, cancellationToken).ConfigureAwait(false);
        // Every node suspect before they come back (the sweep runs at most once a second).
        var m = await WaitForAsync(metrics, x => x.Get(Samples.Nodes("ready")) == 0, interval * 2, cancellationToken).ConfigureAwait(false)
            ?? await metrics.ScrapeAsync(cancellationToken).ConfigureAwait(false);
        results.Add("blip", "pause_s", pause.TotalSeconds, "0.#");
        results.Add("blip", "before_ready", (long)m.Get(Samples.Nodes("ready")));
        results.Add("blip", "before_suspect", (long)m.Get(Samples.Nodes("suspect")));
        results.Add("blip", "before_down", (long)m.Get(Samples.Nodes("down")));

        Progress($"blip: all {settings.Nodes:N0} nodes heartbeat at once, then {recovery.TotalSeconds:0.#} s of the schedule");
        var window = new ResourceWindow(settings.ServerPid);
        track(window);
        var burst = new Phase("blip");
        fleet.Phase = burst;
        var resumedAt = Stopwatch.GetTimestamp();
        fleet.Resume();
        // The burst is every node due at once; the schedule resumes one interval later, and its
        // heartbeats (from half an interval on) belong to the recovery phase.
        var intervalTicks = (long)(interval.TotalSeconds * Stopwatch.Frequency);
        var after = new Phase("recovery", resumedAt + intervalTicks);
        // The server's view, every 200 ms: when it first counts every node ready, whether nodes go
        // suspect again afterwards (answers later than the lease: the spiral), and when it settles,
        // i.e. the start of the stretch of "all ready" that lasts to the end (at least two intervals).
        double? serverReadyAt = null;
        double? stableSince = null;
        var suspectAgain = 0L;
        var longest = resumedAt + (long)(Math.Max((interval + recovery).TotalSeconds, 120) * Stopwatch.Frequency);
        var shortest = resumedAt + intervalTicks + (long)(recovery.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            var now = Stopwatch.GetTimestamp();
            if (fleet.Phase == burst && now >= resumedAt + (intervalTicks / 2))
            {
                fleet.Phase = after;
                burst.End();
            }

            var at = Phase.Seconds(now - resumedAt);
            if (now >= longest || (now >= shortest && stableSince is { } since && at - since >= 2 * interval.TotalSeconds))
            {
                break;
            }

            if (await metrics.ScrapeAsync(cancellationToken).ConfigureAwait(false) is { } seen)
            {
                var allReady = seen.Get(Samples.Nodes("ready")) >= settings.Nodes;
                if (allReady)
                {
                    serverReadyAt ??= at;
                    stableSince ??= at;
                }
                else
                {
                    stableSince = null;
                    if (serverReadyAt is not null)
                    {
                        suspectAgain = Math.Max(suspectAgain, (long)seen.Get(Samples.Nodes("suspect")));
                    }
                }
            }

            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
        }

        fleet.Phase = new Phase("after-recovery");
        after.End();
        window.Report(results, "blip");
        await burst.DrainAsync(TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
        await after.DrainAsync(TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
        results.Add("blip", "all_ready_s", fleet.AllReadyAt == 0 ? "never" : Phase.Seconds(fleet.AllReadyAt - resumedAt).ToString("F2", CultureInfo.InvariantCulture));
        results.Add("blip", "not_ready_end", fleet.NotReady);
        results.Add("blip", "server_all_ready_s", serverReadyAt is { } s ? s.ToString("F1", CultureInfo.InvariantCulture) : "never");
        results.Add("blip", "suspect_again_max", suspectAgain);
        results.Add("blip", "stable_s", stableSince is { } st ? st.ToString("F1", CultureInfo.InvariantCulture) : "never");
        burst.Report(results);
        after.Report(results);
    }

    /// <summary>
    /// (c) `gantry jobs submit --array 1-N --gpus 1 --cpus 0 -- true` while the fleet heartbeats; the
    /// placement rate is read from the server's gantry_server_placements_total until it stops rising
    /// (the fleet's GPUs are full, or the array is placed).
    /// </summary>
    private static async Task PlacementAsync(Settings settings, Fleet fleet, ServerMetrics metrics, Results results, Action<ResourceWindow> track, CancellationToken cancellationToken)
    {
        if (settings.Gantry is null)
        {
            throw new InvalidOperationException("the placement scenario needs --gantry PATH");
        }

        var capacity = (long)settings.Nodes * settings.Gpus;
        var expected = Math.Min(capacity, settings.Jobs);
        Progress($"placement: {settings.Jobs:N0} one-GPU jobs onto {capacity:N0} GPUs (expect {expected:N0} placed)");
        var before = await metrics.ScrapeAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("cannot read /metrics with the admin token");
        var placed0 = before.Get(Samples.Placements);
        var window = new ResourceWindow(settings.ServerPid);
        track(window);
        var phase = new Phase("placing");
        fleet.Phase = phase;

        var submitAt = Stopwatch.GetTimestamp();
        var cpuAtSubmit = settings.ServerPid is { } spid ? Proc.CpuTicks(spid) : null;
        long? cpuAtLastChange = null;
        var submit = new ProcessStartInfo(settings.Gantry) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "jobs", "submit", "--array", $"1-{settings.Jobs}", "--gpus", "1", "--cpus", "0", "--", "true" })
        {
            submit.ArgumentList.Add(arg);
        }

        submit.Environment["GANTRY_SERVER"] = settings.Server.ToString().TrimEnd('/');
        submit.Environment["GANTRY_TOKEN"] = settings.AdminToken;
        using (var process = Process.Start(submit) ?? throw new InvalidOperationException($"cannot start {settings.Gantry}"))
        {
            var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var errors = process.StandardError.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"gantry jobs submit exited {process.ExitCode}: {await errors.ConfigureAwait(false)}");
            }

            Progress($"submitted: {(await output.ConfigureAwait(false)).Trim()}");
        }

        var submitted = Stopwatch.GetTimestamp();
        results.Add("placement", "jobs", settings.Jobs);
        results.Add("placement", "submit_s", Phase.Seconds(submitted - submitAt), "F2");

        // Poll until everything expected is placed, or nothing more was placed for 15 s.
        var timeline = new List<(double At, double Placed)>();
        var lastChange = submitted;
        var lastPlaced = 0.0;
        double? firstAt = null;
        var deadline = submitAt + (long)(settings.PlacementMax.TotalSeconds * Stopwatch.Frequency);
        Dictionary<string, double>? last = null;
        var nextProgress = 0.0;
        while (Stopwatch.GetTimestamp() < deadline)
        {
            await Task.Delay(250, cancellationToken).ConfigureAwait(false);
            if (await metrics.ScrapeAsync(cancellationToken).ConfigureAwait(false) is not { } m)
            {
                continue;
            }

            last = m;
            var now = Stopwatch.GetTimestamp();
            var at = Phase.Seconds(now - submitAt);
            var placed = m.Get(Samples.Placements) - placed0;
            timeline.Add((at, placed));
            if (placed > lastPlaced)
            {
                cpuAtLastChange = settings.ServerPid is { } pid ? Proc.CpuTicks(pid) : null;
                firstAt ??= at;
                lastPlaced = placed;
                lastChange = now;
            }

            if (at >= nextProgress)
            {
                Progress($"placement: {placed:N0} placed after {at:F1} s, {m.Get(Samples.Jobs("pending")):N0} pending");
                nextProgress = at + 10;
            }

            if (placed >= expected || Phase.Seconds(now - lastChange) > 15)
            {
                break;
            }
        }

        fleet.Phase = new Phase("after-placement");
        phase.End();
        window.Report(results, "placement");
        await phase.DrainAsync(TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);

        var lastAt = Phase.Seconds(lastChange - submitAt);
        results.Add("placement", "placed", (long)lastPlaced);
        results.Add("placement", "expected", expected);
        results.Add("placement", "first_s", firstAt is { } f ? f.ToString("F2", CultureInfo.InvariantCulture) : "never");
        results.Add("placement", "last_s", lastAt, "F2");
        // From the submit call's start to the last placement seen (polls are 250 ms apart).
        results.Add("placement", "rate", lastPlaced / lastAt, "F0");
        // The busiest 10 s, for how fast passes go once they run back to back.
        var best = 0.0;
        for (int a = 0, b = 0; b < timeline.Count; b++)
        {
            while (timeline[b].At - timeline[a].At > 10)
            {
                a++;
            }

            if (timeline[b].At - timeline[a].At >= 5)
            {
                best = Math.Max(best, (timeline[b].Placed - timeline[a].Placed) / (timeline[b].At - timeline[a].At));
            }
        }

        results.Add("placement", "rate_best_10s", best, "F0");
        if (cpuAtSubmit is { } c0 && cpuAtLastChange is { } c1 && lastPlaced > 0)
        {
            // Everything the server did from the submission to the last placement (heartbeats too),
            // per 1,000 jobs placed; clock ticks are 1/100 s.
            results.Add("placement", "server_cpu_s_to_last", (c1 - c0) / 100.0, "F1");
            results.Add("placement", "server_cpu_ms_per_1000", 1e6 * (c1 - c0) / 100.0 / lastPlaced, "F0");
        }

        results.Add("placement", "timeline", string.Join(' ', timeline.Where((_, i) => i % 20 == 19).Select(t => $"{t.At:F0}s:{t.Placed:F0}")));
        if (last is not null)
        {
            results.Add("placement", "pending_end", (long)last.Get(Samples.Jobs("pending")));
            results.Add("placement", "assigned_end", (long)last.Get(Samples.Jobs("assigned")));
            var passes = last.Get(Samples.PassCount) - before.Get(Samples.PassCount);
            if (passes > 0)
            {
                results.Add("placement", "passes", (long)passes);
                results.Add("placement", "pass_mean_ms", 1000 * (last.Get(Samples.PassSum) - before.Get(Samples.PassSum)) / passes, "F1");
            }
        }

        phase.Report(results);
    }

    /// <summary>Scrapes /metrics every 200 ms until <paramref name="done"/> holds; the last scrape, or null on time-out.</summary>
    private static async Task<Dictionary<string, double>?> WaitForAsync(ServerMetrics metrics, Func<Dictionary<string, double>, bool> done, TimeSpan limit, CancellationToken cancellationToken)
    {
        var until = Stopwatch.GetTimestamp() + (long)(limit.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < until)
        {
            if (await metrics.ScrapeAsync(cancellationToken).ConfigureAwait(false) is { } m && done(m))
            {
                return m;
            }

            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
        }

        return null;
    }

    public static void Progress(string message) =>
        Console.Error.WriteLine($"[{TimeProvider.System.GetUtcNow():HH:mm:ss}] {message}");

    private sealed record Settings
    {
        public required Uri Server { get; init; }

        public required string JoinToken { get; init; }

        public required string AdminToken { get; init; }

        public int Nodes { get; init; } = 10_000;

        public int Gpus { get; init; } = 8;

        public int Connections { get; init; } = 128;

        public int RegisterParallel { get; init; } = 16;

        public TimeSpan? Interval { get; init; }

        public IReadOnlyList<string> Scenarios { get; init; } = ["steady"];

        public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(60);

        public TimeSpan? BlipPause { get; init; }

        public TimeSpan? Recovery { get; init; }

        public int Jobs { get; init; } = 100_000;

        public string? Gantry { get; init; }

        public TimeSpan PlacementMax { get; init; } = TimeSpan.FromSeconds(600);

        public int? ServerPid { get; init; }

        public string? Results { get; init; }

        public static Settings? Parse(string[] args)
        {
            var values = new Dictionary<string, string>(StringComparer.Ordinal);
            for (var i = 0; i < args.Length; i += 2)
            {
                if (i + 1 >= args.Length || !args[i].StartsWith("--", StringComparison.Ordinal))
                {
                    return null;
                }

                values[args[i][2..]] = args[i + 1];
            }

            try
            {
                var settings = new Settings
                {
                    Server = new Uri(Take(values, "server") ?? throw new FormatException("--server is required")),
                    JoinToken = Take(values, "join-token") ?? throw new FormatException("--join-token is required"),
                    AdminToken = Take(values, "admin-token") ?? throw new FormatException("--admin-token is required"),
                };
                settings = settings with
                {
                    Nodes = Int(Take(values, "nodes")) ?? settings.Nodes,
                    Gpus = Int(Take(values, "gpus")) ?? settings.Gpus,
                    Connections = Int(Take(values, "connections")) ?? settings.Connections,
                    RegisterParallel = Int(Take(values, "register-parallel")) ?? settings.RegisterParallel,
                    Interval = Seconds(Take(values, "interval")),
                    Scenarios = Take(values, "scenarios")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? settings.Scenarios,
                    Duration = Seconds(Take(values, "duration")) ?? settings.Duration,
                    BlipPause = Seconds(Take(values, "blip-pause")),
                    Recovery = Seconds(Take(values, "recovery")),
                    Jobs = Int(Take(values, "jobs")) ?? settings.Jobs,
                    Gantry = Take(values, "gantry"),
                    PlacementMax = Seconds(Take(values, "placement-max")) ?? settings.PlacementMax,
                    ServerPid = Int(Take(values, "server-pid")),
                    Results = Take(values, "results"),
                };
                if (values.Count > 0)
                {
                    throw new FormatException($"unknown option --{values.Keys.First()}");
                }

                if (settings.Scenarios.FirstOrDefault(s => s is not ("steady" or "blip" or "placement")) is { } unknown)
                {
                    throw new FormatException($"unknown scenario '{unknown}'");
                }

                return settings;
            }
            catch (FormatException ex)
            {
                Console.Error.WriteLine($"Gantry.FleetBench: {ex.Message}");
                return null;
            }
        }

        private static string? Take(Dictionary<string, string> values, string name) => values.Remove(name, out var v) ? v : null;

        private static int? Int(string? text) => text is null ? null
            : int.TryParse(text, CultureInfo.InvariantCulture, out var v) && v > 0 ? v : throw new FormatException($"expected a positive whole number, got '{text}'");

        private static TimeSpan? Seconds(string? text) => text is null ? null
            : double.TryParse(text, CultureInfo.InvariantCulture, out var v) && v > 0 ? TimeSpan.FromSeconds(v) : throw new FormatException($"expected seconds, got '{text}'");
    }
}
