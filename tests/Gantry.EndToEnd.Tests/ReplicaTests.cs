using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;
using Gantry.Testing;

namespace Gantry.EndToEnd.Tests;

/// <summary>Two real <c>gantry server</c> replicas on one PostgreSQL database, and an agent that lists both.</summary>
public sealed class ReplicaTests
{
    [PostgresFact]
    public async Task LeaderKilled_StandbyTakesOver_EveryJobEndsOnceAndTheNodeStaysUp()
    {
        await using var db = await PostgresDatabase.CreateAsync();
        var root = Directory.CreateTempSubdirectory("gantry-replicas-").FullName;
        var joinToken = "gjoin_e2e-" + Guid.NewGuid().ToString("N");
        var ports = new[] { Tools.FreePort(), Tools.FreePort() };
        var urls = ports.Select(p => $"http://127.0.0.1:{p}").ToArray();
        string[] Server(int i) =>
        [
            "server", "--store", db.Url, "--listen", $"127.0.0.1:{ports[i]}", "--data-dir", Path.Combine(root, $"r{i}"),
            "--heartbeat-interval", "1s", "--down-after", "30s", "--kill-grace", "2s", "--join-token", joinToken,
        ];

        await using var first = GantryProcess.Start(Server(0));
        await first.WaitForListeningAsync(TimeSpan.FromSeconds(60));
        using var plain = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        await WaitAsync("the first replica to lead", async () => (await plain.GetAsync(urls[0] + "/readyz")).StatusCode == HttpStatusCode.OK, first);
        var adminToken = File.ReadAllText(Path.Combine(root, "r0", "admin.token")).Trim();

        await using var second = GantryProcess.Start(Server(1));
        await second.WaitForListeningAsync(TimeSpan.FromSeconds(60));
        await WaitAsync("the second replica to see the leader", async () =>
        {
            using var ready = await plain.GetAsync(urls[1] + "/readyz");
            return ready.StatusCode == HttpStatusCode.ServiceUnavailable && (await ready.Content.ReadAsStringAsync()).Contains(urls[0], StringComparison.Ordinal);
        }, second);

        // A standby sends clients to the leader.
        using (var noRedirects = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }))
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, urls[1] + "/api/v1/nodes?limit=5");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", adminToken);
            using var redirect = await noRedirects.SendAsync(request);
            Assert.Equal(HttpStatusCode.TemporaryRedirect, redirect.StatusCode);
            Assert.Equal(urls[0] + "/api/v1/nodes?limit=5", redirect.Headers.Location!.ToString());
            Assert.Equal(urls[0], redirect.Headers.GetValues(LeaderRedirect.HeaderName).Single());
        }

        await using var agent = GantryProcess.Start(
        [
            "agent", "--listen", "127.0.0.1:0", "--interval", "1s", "--simulate-gpus", "4", "--server", string.Join(',', urls),
            "--join-token", joinToken, "--state-dir", Path.Combine(root, "agent"), "--node-name", "agent0",
        ]);
        await agent.WaitForListeningAsync(TimeSpan.FromSeconds(60));

        // HttpClient drops the Authorization header when it follows a redirect: talk to the leader.
        using var admin = new HttpClient { BaseAddress = new Uri(urls[0]), Timeout = TimeSpan.FromSeconds(30) };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", adminToken);
        await WaitAsync("the node to be ready", async () => (await Nodes(admin)).Any(n => n.State == NodeState.Ready), agent);

        var runs = Path.Combine(root, "runs");
        var ids = await SubmitAsync(admin, new JobSubmission
        {
            Name = "steady",
            Shell = true,
            Command = [$"echo \"$GANTRY_JOB_ID $GANTRY_ATTEMPT\" >> {runs}; sleep 3; echo done"],
            Resources = new ResourceRequest { Gpus = 1, Cpus = 0 },
            Array = new ArrayRange { Start = 1, End = 12 },
        });
        await WaitAsync("jobs to run", async () => (await Job(admin, ids[0])).State == JobState.Running, agent);

        await first.KillHardAsync();
        await WaitAsync("the second replica to lead", async () => (await plain.GetAsync(urls[1] + "/readyz")).StatusCode == HttpStatusCode.OK, second);
        using var direct = new HttpClient { BaseAddress = new Uri(urls[1]), Timeout = TimeSpan.FromSeconds(30) };
        direct.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", adminToken);
        var late = (await SubmitAsync(direct, new JobSubmission { Name = "late", Command = ["true"], Resources = new ResourceRequest { Gpus = 1, Cpus = 0 } }))[0];

        var all = ids.Append(late).ToArray();
        await WaitAsync("every job to end", async () =>
        {
            foreach (var id in all)
            {
                if (!(await Job(direct, id)).State.IsTerminal())
                {
                    return false;
                }
            }

            return true;
        }, second, seconds: 180);

        foreach (var id in all)
        {
            var job = await Job(direct, id);
            Assert.True(job.State == JobState.Succeeded, $"job {id} {job.State}: {job.Reason}");
            Assert.Single(job.Attempts);
        }

        var lines = File.ReadAllLines(runs);
        Assert.Equal(ids.Order(), lines.Select(l => long.Parse(l.Split(' ')[0], CultureInfo.InvariantCulture)).Order());
        var node = Assert.Single(await Nodes(direct));
        Assert.Equal(NodeState.Ready, node.State);
        Assert.True(second.Output.Contains("leads now", StringComparison.Ordinal), second.Output);
    }

    private static async Task<List<NodeInfo>> Nodes(HttpClient admin) =>
        [.. (await admin.GetFromJsonAsync("/api/v1/nodes", GantryJson.Default.PageNodeInfo))!.Items];

    private static async Task<JobInfo> Job(HttpClient admin, long id) =>
        (await admin.GetFromJsonAsync($"/api/v1/jobs/{id}", GantryJson.Default.JobInfo))!;

    private static async Task<long[]> SubmitAsync(HttpClient admin, JobSubmission submission)
    {
        using var response = await admin.PostAsJsonAsync("/api/v1/jobs", submission, GantryJson.Default.JobSubmission);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return [.. (await response.Content.ReadFromJsonAsync(GantryJson.Default.SubmitResponse))!.JobIds];
    }

    private static async Task WaitAsync(string what, Func<Task<bool>> condition, GantryProcess watched, int seconds = 90)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(seconds);
        while (true)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not up yet, or the leader just went away.
            }

            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"{what} did not happen within {seconds}s; output:\n{watched.Output}");
            }

            await Task.Delay(100);
        }
    }
}
