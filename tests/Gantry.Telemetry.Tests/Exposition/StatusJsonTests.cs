using System.Text.Json;
using Gantry.Telemetry.Exposition;

namespace Gantry.Telemetry.Tests.Exposition;

public sealed class StatusJsonTests
{
    [Fact]
    public void Render_Snapshot_IsCamelCaseAndLeavesOutUnsupportedReadings()
    {
        using var doc = JsonDocument.Parse(StatusJson.Render(TestSnapshots.Full()));
        var root = doc.RootElement;
        Assert.Equal(7, root.GetProperty("sequence").GetInt64());
        var gpu0 = root.GetProperty("gpus").GetProperty("gpus")[0];
        Assert.Equal(512.25, gpu0.GetProperty("powerWatts").GetDouble());
        Assert.False(gpu0.TryGetProperty("fanSpeedPercent", out _));
        Assert.Equal(2UL, gpu0.GetProperty("xidErrors").GetProperty("79").GetUInt64());
        Assert.True(root.GetProperty("gpus").GetProperty("gpus")[2].GetProperty("lost").GetBoolean());
        Assert.Equal("timed out after 4s", root.GetProperty("collectors")[1].GetProperty("lastError").GetString());
    }

    [Fact]
    public void Render_SimulatedGpus_AreMarkedSimulated()
    {
        using var doc = JsonDocument.Parse(StatusJson.Render(TestSnapshots.Full(simulated: true, withLostGpu: false)));
        foreach (var gpu in doc.RootElement.GetProperty("gpus").GetProperty("gpus").EnumerateArray())
        {
            Assert.True(gpu.GetProperty("simulated").GetBoolean());
        }

        Assert.Equal("simulated", doc.RootElement.GetProperty("gpus").GetProperty("status").GetString());
    }

    [Fact]
    public void Parse_RenderedSnapshot_RoundTrips()
    {
        var snapshot = TestSnapshots.Full();
        var parsed = StatusJson.Parse(StatusJson.Render(snapshot));
        Assert.NotNull(parsed);
        Assert.Equal(snapshot.Gpus.Gpus.Count, parsed.Gpus.Gpus.Count);
        Assert.Equal(snapshot.Host.Memory!.TotalBytes, parsed.Host.Memory!.TotalBytes);
        Assert.Equal(snapshot.Gpus.Gpus[0].XidErrors[79], parsed.Gpus.Gpus[0].XidErrors[79]);
    }
}
