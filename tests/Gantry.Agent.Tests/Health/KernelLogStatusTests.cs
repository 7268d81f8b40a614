using System.Net;
using System.Text.Json;
using Gantry.Agent.Configuration;
using Gantry.Agent.Health;
using Gantry.Agent.Tests.Jobs;
using Gantry.Testing;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Gantry.Agent.Tests.Health;

/// <summary>The kernel-log XID reader as <c>/status</c> shows it: a whole agent on the fake NVML library.</summary>
[Collection("nvml")]
public sealed class KernelLogStatusTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gantry-kmsg-").FullName;

    public void Dispose()
    {
        FakeNvmlLibrary.SetScriptVariable(null);
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Status_KernelLogCannotBeOpened_SaysWhyAndTheHeartbeatCarriesIt()
    {
        FakeNvmlLibrary.UseScript("gpus=1");
        var missing = Path.Combine(_dir, "no-such-kmsg");
        var app = AgentHost.Build(new AgentOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Interval = TimeSpan.FromSeconds(1),
            NvmlLibrary = FakeNvmlLibrary.CurrentDriverPath,
            KernelLog = missing,
        });
        await app.StartAsync();
        try
        {
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            using var http = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(30) };
            var worker = app.Services.GetRequiredService<KernelLogWorker>();
            await ProcessTable.WaitUntilAsync(() => worker.Problem is not null, "the reader tries the kernel log");

            using var status = JsonDocument.Parse(await http.GetStringAsync("/status?pretty"));
            var kernelLog = status.RootElement.GetProperty("kernelLog");
            Assert.Equal(missing, kernelLog.GetProperty("path").GetString());
            Assert.Equal("unavailable", kernelLog.GetProperty("state").GetString());
            Assert.Contains($"The kernel log {missing} cannot be opened (errno 2)", kernelLog.GetProperty("message").GetString(), StringComparison.Ordinal);
            Assert.Equal(1, status.RootElement.GetProperty("gpus").GetProperty("gpus").GetArrayLength());
            Assert.Contains("cannot be opened", worker.Problem, StringComparison.Ordinal);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
