using Gantry.Telemetry.Collection;
using Gantry.Telemetry.Model;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gantry.Telemetry.Tests.Sampling;

public sealed class SamplerTests
{
    private sealed class Fixed<T>(string name, Func<T> read) : ICollector<T> where T : class
    {
        public string Name => name;
        public int Calls;

        public ValueTask<T> CollectAsync(CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Calls);
            return ValueTask.FromResult(read());
        }
    }

    /// <summary>Blocks its thread like a read from a hung NFS mount, until released.</summary>
    private sealed class Hung<T>(string name) : ICollector<T>, IDisposable where T : class
    {
        public readonly ManualResetEventSlim Release = new();
        public string Name => name;

        public ValueTask<T> CollectAsync(CancellationToken cancellationToken)
        {
            // Deliberately deaf to cancellation, as a read(2) on a hung mount is.
            Release.Wait(TimeSpan.FromSeconds(30), CancellationToken.None);
            throw new IOException("released");
        }

        public void Dispose() => Release.Dispose();
    }

    private static readonly CpuSample Cpu = new([], 1, 1, 1, 1, 1, 1, 1, 0, 0, 4);
    private static readonly MemorySample Memory = new(1000, 500, 400, 100, 10, 0, 0);

    private static CollectorSet Set(ICollector<IReadOnlyList<FilesystemSample>>? filesystems = null, ICollector<PowerSnapshot>? power = null, ICollector<GpuSnapshot>? gpus = null) => new()
    {
        Identity = ("host", "linux", "x64", "6.1"),
        Cpu = new Fixed<CpuSample>("cpu", () => Cpu),
        Memory = new Fixed<MemorySample>("memory", () => Memory),
        Filesystems = filesystems,
        Power = power,
        Gpus = gpus,
    };

    private static Sampler Sampler(CollectorSet set, TimeSpan? timeout = null, double? envelope = null, TimeProvider? time = null) =>
        new(set, new SamplerSettings(timeout ?? TimeSpan.FromSeconds(5), envelope), time ?? TimeProvider.System, NullLogger<Sampler>.Instance);

    [Fact]
    public async Task SampleAsync_HungCollector_TimesOutAndOthersStillReport()
    {
        using var hung = new Hung<IReadOnlyList<FilesystemSample>>("filesystem");
        var sampler = Sampler(Set(filesystems: hung), timeout: TimeSpan.FromMilliseconds(200));

        var first = await sampler.SampleAsync(CancellationToken.None);
        Assert.Equal(Memory, first.Host.Memory);
        Assert.Null(first.Host.Filesystems);
        var status = first.Collectors.Single(c => c.Name == "filesystem");
        Assert.False(status.Ok);
        Assert.Contains("timed out", status.LastError, StringComparison.Ordinal);
        Assert.Equal(1UL, status.ErrorsTotal);

        // Still stuck: the next sample does not start a second reading behind it.
        var second = await sampler.SampleAsync(CancellationToken.None);
        var again = second.Collectors.Single(c => c.Name == "filesystem");
        Assert.Contains("has not finished", again.LastError, StringComparison.Ordinal);
        Assert.Equal(2UL, again.ErrorsTotal);
        Assert.True(second.Collectors.Single(c => c.Name == "cpu").Ok);
        hung.Release.Set();
    }

    [Fact]
    public async Task SampleAsync_ThrowingCollector_IsRecordedAndRecovers()
    {
        var fail = true;
        var gpus = new Fixed<GpuSnapshot>("nvml", () => fail ? throw new InvalidOperationException("driver said no") : new GpuSnapshot("ok", null, "550", "12.4", null, []));
        var sampler = Sampler(Set(gpus: gpus));

        var first = await sampler.SampleAsync(CancellationToken.None);
        Assert.Equal("error", first.Gpus.Status);
        Assert.Equal("driver said no", first.Gpus.Message);
        Assert.False(first.Collectors.Single(c => c.Name == "nvml").Ok);

        fail = false;
        var second = await sampler.SampleAsync(CancellationToken.None);
        Assert.Equal("ok", second.Gpus.Status);
        var status = second.Collectors.Single(c => c.Name == "nvml");
        Assert.True(status.Ok);
        Assert.Equal(1UL, status.ErrorsTotal);
        Assert.Equal("driver said no", status.LastError);
    }

    [Fact]
    public async Task SampleAsync_NoGpuSource_SaysSoInStatus()
    {
        var snapshot = await Sampler(Set()).SampleAsync(CancellationToken.None);
        Assert.Equal("unavailable", snapshot.Gpus.Status);
        Assert.Empty(snapshot.Gpus.Gpus);
        Assert.False(string.IsNullOrEmpty(snapshot.Gpus.Message));
    }

    [Fact]
    public async Task SampleAsync_RaplDeltas_GiveNodePowerAndEnvelope()
    {
        var time = new Gantry.Testing.FakeTimeProvider();
        var joules = 1000.0;
        var power = new Fixed<PowerSnapshot>("power", () => new PowerSnapshot([new RaplDomainSample(0, "package", "intel-rapl:0", joules), new RaplDomainSample(0, "core", "intel-rapl:0:0", joules)], [], null));
        var gpu = new GpuSample { Index = 0, Uuid = "GPU-1", Name = "X", PowerWatts = 300 };
        var gpus = new Fixed<GpuSnapshot>("nvml", () => new GpuSnapshot("ok", null, null, null, null, [gpu]));
        var sampler = Sampler(Set(power: power, gpus: gpus), envelope: 400, time: time);

        var first = await sampler.SampleAsync(CancellationToken.None);
        Assert.Equal("gpu", first.NodePower!.Source);
        Assert.Equal(300, first.NodePower.Watts);
        Assert.False(first.NodePower.AboveEnvelope);

        time.Advance(TimeSpan.FromSeconds(5));
        joules += 750; // 150 W of CPU package power over 5 s; the core subdomain is not added again.
        var second = await sampler.SampleAsync(CancellationToken.None);
        Assert.Equal("gpu+rapl", second.NodePower!.Source);
        Assert.Equal(450, second.NodePower.Watts, 3);
        Assert.True(second.NodePower.AboveEnvelope);
        Assert.Equal(2, second.Sequence);
    }
}
