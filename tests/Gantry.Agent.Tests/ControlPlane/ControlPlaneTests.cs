using System.Net;
using Gantry.Agent.Configuration;
using Gantry.Agent.Jobs;
using Gantry.Agent.Tests.Jobs;
using Gantry.Core.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gantry.Agent.Tests.ControlPlane;

/// <summary>A whole agent (sampler, endpoints, control-plane client, job runner) against a fake control plane.</summary>
public sealed class ControlPlaneTests : IAsyncLifetime
{
    private readonly string _stateDir = Directory.CreateTempSubdirectory("gantry-agent-cp-").FullName;
    private readonly EventIdRecorder _log = new();
    private FakeControlPlane _server = null!;
    private WebApplication _agent = null!;

    public async Task InitializeAsync() => _server = await FakeControlPlane.StartAsync();

    public async Task DisposeAsync()
    {
        if (_agent is not null)
        {
            await _agent.StopAsync();
            await _agent.DisposeAsync();
        }

        await _server.DisposeAsync();
        Directory.Delete(_stateDir, recursive: true);
    }

    private async Task StartAgentAsync(Action<AgentOptions>? configure = null)
    {
        var options = new AgentOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Interval = TimeSpan.FromSeconds(1),
            SimulateGpus = 2,
            Servers = [_server.Url],
            JoinToken = "join-secret",
            StateDir = _stateDir,
            Labels = new Dictionary<string, string> { ["zone"] = "a" },
        };
        configure?.Invoke(options);
        _agent = AgentHost.Build(options, configureLogging: logging =>
        {
            logging.SetMinimumLevel(LogLevel.Debug);
            logging.AddProvider(_log);
        });
        await _agent.StartAsync();
    }

    private static Assignment Shell(long jobId, string script) => new()
    {
        JobId = jobId,
        Attempt = 1,
        Epoch = jobId + 1000,
        Action = AssignmentAction.Run,
        Command = [script],
        Shell = true,
        Gpus = [0],
        Cpus = 1,
        MemoryBytes = 1 << 20,
        KillGraceSeconds = 2,
    };

    [Fact]
    public async Task Agent_JoinTokenFileOthersCanRead_WarnsAndSaysWhomJobsRunAs()
    {
        var tokenFile = Path.Combine(_stateDir, "join.token");
        await File.WriteAllTextAsync(tokenFile, "join-secret\n");
        if (OperatingSystem.IsLinux())
        {
            File.SetUnixFileMode(tokenFile, (UnixFileMode)0b110_100_100);
        }

        await StartAgentAsync(o => (o.JoinToken, o.JoinTokenFile) = (null, tokenFile));
        await ProcessTable.WaitUntilAsync(() => !_server.Heartbeats.IsEmpty, "a heartbeat arrives");

        Assert.Contains(120, _log.Ids);
        Assert.Contains(Environment.IsPrivilegedProcess ? 118 : 117, _log.Ids);
    }

    [Fact]
    public async Task Agent_HeartbeatAnswered404_RegistersAgainWithItsNodeId()
    {
        // A state dir others could read (an older agent's): the agent closes it to jobs of other users.
        if (OperatingSystem.IsLinux())
        {
            File.SetUnixFileMode(_stateDir, (UnixFileMode)0b111_101_101);
        }

        await StartAgentAsync();
        await ProcessTable.WaitUntilAsync(() => !_server.Heartbeats.IsEmpty, "a heartbeat arrives");

        var (auth, first) = _server.Registrations.Single();
        Assert.Equal("Bearer join-secret", auth);
        Assert.Null(first.NodeId);
        Assert.Equal("linux", first.Os);
        Assert.Equal("a", first.Labels["zone"]);
        Assert.Equal(Environment.IsPrivilegedProcess ? "owner" : "agent." + Environment.UserName, first.Labels["gantry.io/job-user"]);
        Assert.Equal(2, first.Gpus.Count);
        Assert.Equal([1], first.Gpus[0].NvLinkPeers);
        Assert.True(first.MemoryBytes > 0 && first.CpuCores > 0);
        var agentUrl = _agent.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Assert.Equal(agentUrl, first.AgentUrl);
        Assert.Equal("node-1\n", File.ReadAllText(Path.Combine(_stateDir, "node-id")));
        if (OperatingSystem.IsLinux())
        {
            Assert.Equal(StateDirectory.DirectoryMode, File.GetUnixFileMode(_stateDir));
            Assert.Equal(StateDirectory.FileMode, File.GetUnixFileMode(Path.Combine(_stateDir, "node-id")));
        }

        var (heartbeatAuth, heartbeat) = _server.Heartbeats.First();
        Assert.Equal("Bearer cred-1", heartbeatAuth);
        Assert.True(heartbeat.Summary!.Simulated);
        Assert.Equal(2, heartbeat.Summary.Gpus.Count);

        _server.ForgetNodeOnce = true;
        await ProcessTable.WaitUntilAsync(() => _server.Registrations.Count == 2 && _server.Heartbeats.Any(h => h.Authorization == "Bearer cred-2"), "the agent registers again");
        Assert.Equal("node-1", _server.Registrations.Last().Request.NodeId);
    }

    [Fact]
    public async Task Agent_AssignedJob_RunsItAndSendsItsLogsBeforeEnded()
    {
        _server.Assign(Shell(7, "echo \"gpu $CUDA_VISIBLE_DEVICES on $GANTRY_NODE_ID\"; echo oops >&2; exit 4"));
        await StartAgentAsync();
        await ProcessTable.WaitUntilAsync(() => _server.Uploads.Any(u => u.Event?.Type == AttemptEventType.Ended), "the job's end arrives");

        var uploads = _server.Uploads.Where(u => u.JobId == 7).ToList();
        Assert.Equal(AttemptEventType.Started, uploads[0].Event?.Type);
        var ended = uploads[^1].Event!;
        Assert.Equal(AttemptEndCause.Exited, ended.Cause);
        Assert.Equal(4, ended.ExitCode);
        Assert.Equal(1007, ended.Epoch);
        var chunks = uploads.Where(u => u.Logs is not null).SelectMany(u => u.Logs!.Chunks).ToList();
        Assert.Equal("gpu 0 on node-1\n", string.Concat(chunks.Where(c => c.Stream == LogSource.Stdout).Select(c => c.Data)));
        Assert.Equal("oops\n", string.Concat(chunks.Where(c => c.Stream == LogSource.Stderr).Select(c => c.Data)));
        Assert.All(chunks, c => Assert.Equal(0, c.Offset));

        // started, the output batched (two writes make at most two batches), ended.
        Assert.All(uploads[1..^1], u => Assert.NotNull(u.Logs));
        Assert.InRange(uploads.Count, 3, 4);
    }

    [Fact]
    public async Task Agent_EventAnswered409_StopsTheAttemptAndDropsItsQueue()
    {
        _server.FencedJobs[8] = true;
        _server.Assign(Shell(8, "echo still here; sleep 300"));
        await StartAgentAsync();
        var runner = _agent.Services.GetRequiredService<JobRunner>();
        await ProcessTable.WaitUntilAsync(() => _server.Uploads.Any(u => u.JobId == 8), "the started event is refused");
        var pid = _server.Uploads.First(u => u.JobId == 8).Event!.Pid!.Value;

        await ProcessTable.WaitUntilAsync(() => runner.Running().Count == 0 && ProcessTable.GroupMembers(pid).Count == 0, "the fenced attempt is stopped");
        await _agent.Services.GetRequiredService<Gantry.Agent.ControlPlane.AttemptOutbox>().FlushAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        var uploads = _server.Uploads.Where(u => u.JobId == 8).ToList();
        Assert.Single(uploads);
        Assert.Equal(409, uploads[0].Status);

        // Still listed as run: the same (job, attempt, epoch) is never started again.
        Assert.False(runner.Start(Shell(8, "echo again")));
    }

    [Fact]
    public async Task Agent_ServerDown_KeepsServingAndRegistersOnceItIsBack()
    {
        _server.Down = true;
        await StartAgentAsync();
        var address = _agent.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        using var http = new HttpClient { BaseAddress = new Uri(address) };

        await ProcessTable.WaitUntilAsync(() => _log.Ids.Contains(131), "the outage is logged");
        using (var metrics = await http.GetAsync("/metrics"))
        {
            Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        }

        // Several retries go by (backoff doubles from 0.5s) without another warning.
        await Task.Delay(TimeSpan.FromSeconds(2));
        _server.Down = false;
        await ProcessTable.WaitUntilAsync(() => !_server.Heartbeats.IsEmpty, "the agent registers and heartbeats once the server is back");

        Assert.Equal(1, _log.Ids.Count(id => id == 131));
        Assert.Equal(1, _log.Ids.Count(id => id == 132));
    }
}
