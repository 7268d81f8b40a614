using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Testing;
using Xunit.Abstractions;

namespace Gantry.Server.Tests.Fuzz;

/// <summary>
/// Every JSON endpoint gets valid bodies mutated from a fixed seed (<see cref="JsonMutator"/>), over
/// real HTTP: no answer is a 5xx, every refusal is a problem, and a refused request stores nothing.
/// </summary>
public sealed class ApiFuzzTests(ITestOutputHelper output)
{
    /// <summary>The seed; <c>GANTRY_FUZZ_SEED</c> picks another one to explore with.</summary>
    private const int DefaultSeed = 20_260_101;

    private const int RequestsPerEndpoint = 600;

    private const int ShownFailures = 10;

    /// <summary>The server's default request body limit.</summary>
    private const int MaxBodyBytes = 1024 * 1024;

    [Fact]
    public async Task JsonEndpoints_MutatedValidBodies_No5xxRefusedWithProblemAndNothingStored()
    {
        var seed = Environment.GetEnvironmentVariable("GANTRY_FUZZ_SEED") is { Length: > 0 } text
            ? int.Parse(text, CultureInfo.InvariantCulture)
            : DefaultSeed;

        // A still clock: no node goes down and no lease runs out however long the run takes.
        var clock = new FakeTimeProvider();
        await using var server = await ServerHarness.StartAsync(clock);
        var (workerId, worker) = await server.RegisterAsync("fuzz-worker", 1, nodeId: "fuzz-worker");
        var setupJob = (await server.SubmitAsync(new JobSubmission { Command = ["setup"], Resources = new ResourceRequest { Gpus = 1 } }))[0];
        var attempt = (await ServerHarness.AssignmentsAsync(worker, workerId, r => r.Attempts.Count == 1)).Attempts[0];
        using (var started = await ServerHarness.ReportAsync(worker, attempt, new AttemptEvent { Epoch = attempt.Epoch, Type = AttemptEventType.Started, Time = clock.GetUtcNow() }))
        {
            started.EnsureSuccessStatusCode();
        }

        var targets = Targets(server, worker, workerId, attempt, clock.GetUtcNow());
        var mutants = targets.Select((t, i) => Mutants(t, seed + i)).ToArray();
        var ledger = new Ledger();
        var failures = new List<string>();
        var sent = 0;
        var watch = Stopwatch.StartNew();
        for (var round = 0; round < RequestsPerEndpoint; round++)
        {
            for (var t = 0; t < targets.Length; t++)
            {
                if (round < mutants[t].Count)
                {
                    sent++;
                    if (await SendAsync(targets[t], mutants[t][round], chunked: sent % 5 == 0, ledger) is { } failure)
                    {
                        failures.Add(failure);
                    }
                }
            }
        }

        watch.Stop();
        output.WriteLine($"seed {seed}: {sent} requests in {watch.Elapsed.TotalSeconds:0.0}s; accepted {ledger.Statuses.Count(s => s < 300)}; statuses {string.Join(", ", ledger.Statuses.GroupBy(s => s).OrderBy(g => g.Key).Select(g => $"{g.Key}×{g.Count()}"))}");
        Assert.True(
            failures.Count == 0,
            $"{failures.Count} of {sent} fuzzed requests (seed {seed}) broke the rules (no 5xx; a 4xx is application/problem+json); the first {Math.Min(failures.Count, ShownFailures)}:\n{string.Join("\n", failures.Take(ShownFailures))}");

        // Nothing stored from a refused request: exactly the jobs and nodes that 2xx answers named,
        // each node as its last accepted registration described it.
        var jobs = await JobIdsAsync(server.Admin);
        var expectedJobs = ledger.JobIds.Append(setupJob).ToHashSet();
        Assert.True(jobs.SetEquals(expectedJobs), $"jobs stored but never accepted: [{string.Join(", ", jobs.Except(expectedJobs))}]; accepted but not stored: [{string.Join(", ", expectedJobs.Except(jobs))}]");

        var nodes = await NodesAsync(server.Admin);
        ledger.NodeNames[workerId] = "fuzz-worker";
        Assert.True(nodes.Keys.ToHashSet().SetEquals(ledger.NodeNames.Keys), $"nodes stored but never accepted: [{string.Join(", ", nodes.Keys.Except(ledger.NodeNames.Keys))}]; accepted but not stored: [{string.Join(", ", ledger.NodeNames.Keys.Except(nodes.Keys))}]");
        foreach (var (id, name) in ledger.NodeNames)
        {
            Assert.True(nodes[id].Name == name, $"node {id} is named {nodes[id].Name}, but its last accepted registration said {name}");
        }

        Assert.True(
            nodes[workerId].Summary is not null == ledger.LastHeartbeatHadSummary,
            $"node {workerId} {(nodes[workerId].Summary is null ? "has no summary" : "has a summary")} though the last accepted heartbeat {(ledger.LastHeartbeatHadSummary ? "had one" : "had none")}");

        foreach (var record in await LogsAsync(server.Admin, setupJob))
        {
            Assert.True(
                record.Data is null || ledger.LogData.Any(d => d.StartsWith(record.Data, StringComparison.Ordinal)) || record.Data.StartsWith("\n[gantry:", StringComparison.Ordinal),
                $"log text stored that no accepted upload sent: {Show(Encoding.UTF8.GetBytes(record.Data ?? ""))}");
        }

        // Refused events changed nothing: the attempt runs on unless an accepted event ended it
        // (a mutated epoch can hit the live one).
        var job = await server.JobAsync(setupJob);
        var transitions = string.Join(" → ", job.Transitions.Select(t => $"{t.To} ({t.Reason})"));
        Assert.True(ledger.EndedEvents > 0 || job.State == JobState.Running, $"job {setupJob} is {job.State} though no 'ended' event was accepted: {transitions}");
        Assert.Single(job.Attempts);
    }

    private static Target[] Targets(ServerHarness server, HttpClient worker, string workerId, Assignment a, DateTimeOffset now)
    {
        var time = "\"" + now.ToString("O", CultureInfo.InvariantCulture) + "\"";
        var attempts = $"/api/v1/jobs/{a.JobId}/attempts/{a.Attempt}";
        return
        [
            new Target("submit", server.Admin, "/api/v1/jobs",
            [
                """{"name":"fuzz","command":["python","train.py","--lr","0.1"],"shell":false,"env":{"FOO":"bar","PATH_X":"/opt/bin"},"workingDirectory":"/tmp","resources":{"gpus":1,"gpuMemoryBytes":1024,"gpuModel":"H100","cpus":2,"memoryBytes":1048576},"priority":60,"selector":{"zone":"a","rack":"r1"},"maxRuntimeSeconds":3600,"retries":1}""",
                """{"command":["echo $GANTRY_ARRAY_INDEX"],"shell":true,"env":{"A":"1"},"selector":{"gpu":"h100"},"array":{"start":1,"end":3}}""",
            ]),
            new Target("register", server.Join, "/api/v1/nodes/register",
            [
                """{"nodeId":"fuzz-reg","name":"fuzz-reg.example","cpuCores":16,"memoryBytes":68719476736,"os":"linux","architecture":"x64","labels":{"zone":"a","rack":"r1"},"gpus":[{"index":0,"uuid":"GPU-0","model":"NVIDIA H100","memoryBytes":85899345920,"simulated":true,"nvLinkPeers":[1]},{"index":1,"uuid":"GPU-1","model":"NVIDIA H100","memoryBytes":85899345920,"nvLinkPeers":[0]}],"agentVersion":"0.1.0","agentUrl":"http://10.0.0.5:9450","runningAttempts":[{"jobId":1,"attempt":1,"epoch":1}]}""",
                """{"name":"fuzz-new","cpuCores":4,"memoryBytes":1073741824,"os":"linux","architecture":"arm64","labels":{"gpu":"h100"},"gpus":[{"index":0,"uuid":"GPU-N","model":"H100","memoryBytes":1}]}""",
            ]),
            new Target("heartbeat", worker, $"/api/v1/nodes/{workerId}/heartbeat",
            [
                $$"""{"summary":{"sampledAt":{{time}},"cpuUtilization":0.5,"memoryUsedBytes":1024,"memoryTotalBytes":4096,"powerWatts":300.5,"simulated":true,"generatedTokensPerSecond":12.5,"promptTokensPerSecond":100,"gpus":[{"index":0,"lost":false,"utilization":0.9,"memoryUsedBytes":1,"memoryTotalBytes":2,"temperatureCelsius":60,"powerWatts":250,"energyJoules":1000,"smClockHertz":1.4e9,"memoryClockHertz":2.6e9,"throttleReasons":["sw_power_cap"]}]},"runningAttempts":[{"jobId":{{a.JobId}},"attempt":{{a.Attempt}},"epoch":{{a.Epoch}}}]}""",
                """{}""",
            ]),
            new Target("events", worker, attempts + "/events",
            [
                $$"""{"epoch":{{a.Epoch}},"type":"started","time":{{time}},"pid":42,"message":"ok"}""",
                $$"""{"epoch":{{a.Epoch + 1000}},"type":"ended","time":{{time}},"cause":"exited","exitCode":1,"signal":"SIGKILL","message":"bye"}""",
            ]),
            new Target("logs", worker, attempts + "/logs",
            [
                $$"""{"epoch":{{a.Epoch}},"chunks":[{"stream":"stdout","offset":0,"data":"hello\n"},{"stream":"stderr","offset":0,"data":"warn\n"}]}""",
            ]),
        ];
    }

    /// <summary>Each valid body's systematic mutations, then random ones up to <see cref="RequestsPerEndpoint"/>.</summary>
    private static List<Mutant> Mutants(Target target, int seed)
    {
        var mutator = new JsonMutator(seed);
        var list = target.ValidBodies.SelectMany(mutator.Systematic).ToList();
        for (var i = 0; list.Count < RequestsPerEndpoint; i++)
        {
            list.Add(mutator.Random(target.ValidBodies[i % target.ValidBodies.Length]));
        }

        return list;
    }

    /// <summary>Sends one mutant; a description of what went wrong, or null.</summary>
    private static async Task<string?> SendAsync(Target target, Mutant mutant, bool chunked, Ledger ledger)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, target.Path) { Content = new ByteArrayContent(mutant.Body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        if (mutant.Body.Length > MaxBodyBytes)
        {
            // As a careful client sends a large body: the server's 413 comes before the body is sent,
            // where otherwise the connection may be closed under the body still being written.
            request.Headers.ExpectContinue = true;
        }
        else if (chunked)
        {
            // No Content-Length: the server learns the size only by reading.
            request.Headers.TransferEncodingChunked = true;
            request.Content.Headers.ContentLength = null;
        }

        HttpResponseMessage response;
        try
        {
            response = await target.Client.SendAsync(request);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return Describe(target, mutant, $"no answer: {ex.Message} {ex.InnerException?.Message}");
        }

        using (response)
        {
            var status = (int)response.StatusCode;
            var mediaType = response.Content.Headers.ContentType?.MediaType;
            var text = await response.Content.ReadAsStringAsync();
            ledger.Statuses.Add(status);
            if (status is < 200 or >= 500 or (>= 300 and < 400) || (status >= 400 && mediaType != "application/problem+json"))
            {
                return Describe(target, mutant, $"{status} {mediaType}: {Truncate(text, 500)}");
            }

            if (status < 300)
            {
                ledger.Accepted(target.Name, mutant.Body, text);
            }

            return null;
        }
    }

    private static string Describe(Target target, Mutant mutant, string answer) =>
        $"- POST {target.Path} ({target.Name}) [{mutant.Mutation}]\n  body ({mutant.Body.Length} bytes): {Show(mutant.Body)}\n  -> {answer}";

    /// <summary>The bytes as text, printable ASCII as it is and every other byte as \xNN, cut at 300 characters.</summary>
    private static string Show(byte[] bytes)
    {
        var text = new StringBuilder();
        foreach (var b in bytes)
        {
            if (text.Length >= 300)
            {
                return text.Append('…').ToString();
            }

            text.Append(b is >= 0x20 and < 0x7F ? ((char)b).ToString() : $"\\x{b:X2}");
        }

        return text.ToString();
    }

    private static string Truncate(string text, int max) => text.Length <= max ? text : text[..max] + "…";

    private static async Task<HashSet<long>> JobIdsAsync(HttpClient admin)
    {
        var ids = new HashSet<long>();
        string? cursor = null;
        do
        {
            var page = (await admin.GetFromJsonAsync($"/api/v1/jobs?limit=1000{(cursor is null ? "" : "&cursor=" + cursor)}", GantryJson.Default.PageJobInfo))!;
            ids.UnionWith(page.Items.Select(j => j.Id));
            cursor = page.NextCursor;
        }
        while (cursor is not null);
        return ids;
    }

    private static async Task<Dictionary<string, NodeInfo>> NodesAsync(HttpClient admin)
    {
        var nodes = new Dictionary<string, NodeInfo>();
        string? cursor = null;
        do
        {
            var page = (await admin.GetFromJsonAsync($"/api/v1/nodes?limit=1000{(cursor is null ? "" : "&cursor=" + Uri.EscapeDataString(cursor))}", GantryJson.Default.PageNodeInfo))!;
            foreach (var node in page.Items)
            {
                nodes[node.Id] = node;
            }

            cursor = page.NextCursor;
        }
        while (cursor is not null);
        return nodes;
    }

    private static async Task<List<LogRecord>> LogsAsync(HttpClient admin, long jobId) =>
        [.. (await admin.GetStringAsync($"/api/v1/jobs/{jobId}/logs"))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => JsonSerializer.Deserialize(line, GantryJson.Default.LogRecord)!)];

    /// <summary>One JSON endpoint: who calls it, where, and the valid bodies its mutants start from.</summary>
    private sealed record Target(string Name, HttpClient Client, string Path, string[] ValidBodies);

    /// <summary>Every status the server answered, and what its 2xx answers accepted, to check the store against.</summary>
    private sealed class Ledger
    {
        private static readonly byte[] Utf8Bom = [0xEF, 0xBB, 0xBF];

        public List<int> Statuses { get; } = [];

        public List<long> JobIds { get; } = [];

        /// <summary>Each node registered, with the name its last accepted registration gave.</summary>
        public Dictionary<string, string> NodeNames { get; } = [];

        public bool LastHeartbeatHadSummary { get; private set; }

        public List<string> LogData { get; } = [];

        public int EndedEvents { get; private set; }

        public void Accepted(string target, byte[] body, string answer)
        {
            using var document = JsonDocument.Parse(body.AsMemory(body.AsSpan().StartsWith(Utf8Bom) ? Utf8Bom.Length : 0));
            switch (target)
            {
                case "submit":
                    JobIds.AddRange(JsonSerializer.Deserialize(answer, GantryJson.Default.SubmitResponse)!.JobIds);
                    break;
                case "register":
                    NodeNames[JsonSerializer.Deserialize(answer, GantryJson.Default.RegisterNodeResponse)!.NodeId] = Last(document, "name").GetString()!;
                    break;
                case "heartbeat":
                    LastHeartbeatHadSummary = Last(document, "summary").ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null);
                    break;
                case "events":
                    EndedEvents += Last(document, "type").ValueKind == JsonValueKind.String && Last(document, "type").GetString() == "ended" ? 1 : 0;
                    break;
                case "logs":
                    // Every "data" string of every chunk: with duplicate keys that is more than was stored, never less.
                    foreach (var chunks in document.RootElement.EnumerateObject().Where(p => p.Name == "chunks"))
                    {
                        foreach (var chunk in chunks.Value.EnumerateArray())
                        {
                            LogData.AddRange(chunk.EnumerateObject().Where(p => p.Name == "data").Select(p => p.Value.GetString()!));
                        }
                    }

                    break;
            }
        }

        /// <summary>The last value of a top-level property, as System.Text.Json keeps the last of duplicate keys.</summary>
        private static JsonElement Last(JsonDocument document, string name) =>
            document.RootElement.EnumerateObject().LastOrDefault(p => p.Name == name).Value;
    }
}
