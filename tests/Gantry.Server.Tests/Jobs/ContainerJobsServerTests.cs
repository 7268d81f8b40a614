using System.Net;
using System.Net.Http.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Testing;

namespace Gantry.Server.Tests.Jobs;

/// <summary>
/// Container jobs on the server (docs/containers-jobs.md): a node's runtimes stored with it (and kept over a
/// restart), a job placed only where its runtime is, with the container in its assignment, and the reason of one
/// that no node can run.
/// </summary>
public sealed class ContainerJobsServerTests
{
    private static async Task<(string Id, HttpClient Http)> RegisterAsync(ServerHarness server, string name, string? nodeId, params ContainerRuntimeInfo[] runtimes)
    {
        var request = new RegisterNodeRequest
        {
            NodeId = nodeId,
            Name = name,
            CpuCores = 8,
            MemoryBytes = 64L << 30,
            Os = "linux",
            Architecture = "x64",
            Gpus = [.. Enumerable.Range(0, 2).Select(i => new GpuInventory { Index = i, Uuid = $"GPU-{name}-{i}", Model = "NVIDIA H100 80GB HBM3", MemoryBytes = 80L << 30 })],
            ContainerRuntimes = runtimes,
        };
        using var response = await server.Join.PostAsJsonAsync("/api/v1/nodes/register", request, GantryJson.Default.RegisterNodeRequest);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var answer = (await response.Content.ReadFromJsonAsync(GantryJson.Default.RegisterNodeResponse))!;
        return (answer.NodeId, server.Client(answer.Credential));
    }

    [Fact]
    public async Task ContainerJob_PlacedOnlyWhereItsRuntimeIs_RuntimesSurviveARestart()
    {
        var dataDir = Directory.CreateTempSubdirectory("gantry-containers-").FullName;
        await using var store = await TestStore.CreateAsync();
        string withPodman;
        await using (var server = await ServerHarness.StartAsync(dataDir: dataDir, store: store))
        {
            var plain = await RegisterAsync(server, "plain", null);
            var podman = await RegisterAsync(server, "podman", null, new ContainerRuntimeInfo { Name = ContainerRuntime.Podman, Version = "4.3.1" });
            withPodman = podman.Id;

            var spec = new ContainerSpec { Image = "localhost/trainer:1", Ports = [new PortMapping { ContainerPort = 8000 }] };
            var id = (await server.SubmitAsync(new JobSubmission { Command = ["python", "train.py"], Container = spec, Resources = new ResourceRequest { Gpus = 1 } }))[0];
            var assignment = (await ServerHarness.AssignmentsAsync(podman.Http, podman.Id, r => r.Attempts.Count == 1)).Attempts[0];
            Assert.Equal(id, assignment.JobId);
            Assert.Equal("localhost/trainer:1", assignment.Container!.Image);
            Assert.Equal(8000, assignment.Container.Ports[0].ContainerPort);

            var docker = (await server.SubmitAsync(new JobSubmission { Command = [], Container = new ContainerSpec { Image = "x", Runtime = ContainerRuntime.Docker } }))[0];
            var waiting = await server.WaitForJobAsync(docker, j => j.Reason?.Contains("container runtime", StringComparison.Ordinal) == true);
            Assert.Equal("no ready node has container runtime docker (2 nodes lack it)", waiting.Reason);
            Assert.Empty((await ServerHarness.AssignmentsAsync(plain.Http, plain.Id, _ => true)).Attempts);
        }

        await using var again = await ServerHarness.StartAsync(dataDir: dataDir, store: store);
        var node = (await again.Admin.GetFromJsonAsync($"/api/v1/nodes/{withPodman}", GantryJson.Default.NodeInfo))!;
        var runtime = Assert.Single(node.ContainerRuntimes);
        Assert.Equal(ContainerRuntime.Podman, runtime.Name);
        Assert.Equal("4.3.1", runtime.Version);
    }

    [Fact]
    public async Task Register_BadContainerRuntimes_400NamingTheField()
    {
        await using var server = await ServerHarness.StartAsync();
        const string body = """
            {"name":"n","cpuCores":1,"memoryBytes":1024,"os":"linux","architecture":"x64","containerRuntimes":[{"name":"podman","version":"4\u0001"}]}
            """;
        using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        using var response = await server.Join.PostAsync("/api/v1/nodes/register", content);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("containerRuntimes[0].version", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
