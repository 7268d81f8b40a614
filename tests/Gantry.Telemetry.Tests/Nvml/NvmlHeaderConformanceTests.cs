using System.Buffers.Binary;
using System.Text;
using Gantry.Telemetry.Exposition;
using Gantry.Telemetry.Model;
using Gantry.Telemetry.Nvml;
using Gantry.Telemetry.Tests.Exposition;
using Gantry.Testing;

namespace Gantry.Telemetry.Tests.Nvml;

/// <summary>
/// The findings of a check of the bindings against NVIDIA's <c>nvml.h</c>, each scripted in the
/// fake library the way a real driver behaves: entry sizes, link numbering, v2 memory, field ids,
/// per-field results, return codes, the 13.0 deprecations and the recovery action.
/// </summary>
[Collection("nvml")]
public sealed class NvmlHeaderConformanceTests : IDisposable
{
    private const ulong GiB = 1UL << 30;
    private const ulong MiB = 1UL << 20;

    private readonly FakeTimeProvider _time = new();
    private readonly ListLogger<NvmlCollector> _logger = new();
    private readonly List<NvmlCollector> _collectors = [];

    public void Dispose()
    {
        foreach (var collector in _collectors)
        {
            collector.Dispose();
        }

        FakeNvmlLibrary.SetScriptVariable(null);
    }

    private async Task<GpuSnapshot> CollectOnce()
    {
        var collector = new NvmlCollector(FakeNvmlLibrary.CurrentDriverPath, _logger, _time);
        _collectors.Add(collector);
        return await collector.CollectAsync(CancellationToken.None);
    }

    // 1. The process-list entry size is measured, not trusted.

    [Theory]
    [InlineData(16)]
    [InlineData(24)]
    [InlineData(32)]
    public async Task CollectAsync_DriverWritesProcessEntriesOfAnySize_ParsedByMeasuredStride(int stride)
    {
        FakeNvmlLibrary.UseScript("gpus=1", $"gpu.0.process_stride={stride}", "gpu.0.processes=4001:1073741824,4002:na,4003:2147483648");

        var processes = (await CollectOnce()).Gpus[0].Processes;

        Assert.NotNull(processes);
        Assert.Equal([4001U, 4002U, 4003U], processes.Select(p => p.Pid));
        Assert.Equal([1073741824UL, null, 2147483648UL], processes.Select(p => p.UsedMemoryBytes));
    }

    [Fact]
    public async Task CollectAsync_ManyProcessesAtTheLargestStride_BufferHoldsThemAll()
    {
        var list = string.Join(',', Enumerable.Range(5000, 60).Select(pid => $"{pid}:{pid * 1024L}"));
        FakeNvmlLibrary.UseScript("gpus=1", "gpu.0.process_stride=32", $"gpu.0.processes={list}");

        var processes = (await CollectOnce()).Gpus[0].Processes;

        Assert.NotNull(processes);
        Assert.Equal(Enumerable.Range(5000, 60).Select(pid => (uint)pid), processes.Select(p => p.Pid));
        Assert.Equal(5059UL * 1024, processes[^1].UsedMemoryBytes);
    }

    [Theory]
    [InlineData(16, 1)]
    [InlineData(16, 5)]
    [InlineData(24, 1)]
    [InlineData(24, 5)]
    [InlineData(32, 1)]
    [InlineData(32, 5)]
    public void DetectProcessStride_EntriesWrittenOverSentinel_FindsTheStride(int stride, int count)
    {
        var buffer = new byte[8 * NvmlConst.ProcessInfoStrideMax];
        NvmlCollector.FillSentinel(buffer);
        for (var i = 0; i < count; i++)
        {
            // Worst case for the measure: every field zero but the pid, so only zeros mark the tail.
            var entry = buffer.AsSpan(i * stride, stride);
            entry.Clear();
            BinaryPrimitives.WriteUInt32LittleEndian(entry, (uint)(100 + i));
        }

        Assert.Equal(stride, NvmlCollector.DetectProcessStride(buffer, count));
        Assert.Equal(Enumerable.Range(100, count).Select(p => (uint)p), NvmlCollector.ParseProcesses(buffer, count, stride).Select(p => p.Pid));
    }

    [Fact]
    public void DetectProcessStride_DriverWroteBeyondItsEntries_AssumesTheHeaderSize()
    {
        var buffer = new byte[4 * NvmlConst.ProcessInfoStrideMax];
        Array.Fill(buffer, (byte)0);

        Assert.Equal(NvmlConst.ProcessInfoStrideV2, NvmlCollector.DetectProcessStride(buffer, 2));
        Assert.Equal(NvmlConst.ProcessInfoStrideV2, NvmlCollector.DetectProcessStride(buffer, 0));
    }

    // 2. NVLink enumeration goes past a failing link, up to NVML_NVLINK_MAX_LINKS (36).

    [Fact]
    public async Task CollectAsync_OneLinkStateFails_LaterLinksStillReported()
    {
        FakeNvmlLibrary.UseScript("gpus=1", "gpu.0.nvlinks=4", "gpu.0.nvlink.1.active=err:999", "gpu.0.nvlink.3.tx_kib=77");

        var links = (await CollectOnce()).Gpus[0].NvLinks;

        Assert.Equal([0, 2, 3], links.Select(l => l.Link));
        // Counters are asked for each link by its own number.
        Assert.Equal(77UL * 1024, links[2].TransmitBytes);
        Assert.Equal(2UL, links[1].CrcFlitErrors);
    }

    [Fact]
    public async Task CollectAsync_36Links_AllReported()
    {
        FakeNvmlLibrary.UseScript("gpus=1", "gpu.0.nvlinks=36", "gpu.0.nvlink.35.remote=00000000:C1:00.0");

        var links = (await CollectOnce()).Gpus[0].NvLinks;

        Assert.Equal(Enumerable.Range(0, 36), links.Select(l => l.Link));
        Assert.Equal(36_000UL * 1024, links[35].TransmitBytes);
        Assert.Equal(55UL, links[35].RecoveryErrors);
        Assert.Equal("00000000:C1:00.0", links[35].RemotePciBusId);
    }

    // 3. Memory used from nvmlDeviceGetMemoryInfo_v2, reserved apart; v1 on older drivers.

    [Fact]
    public async Task CollectAsync_DriverWithMemoryInfoV2_UsedLeavesOutReservedWhichIsReportedApart()
    {
        FakeNvmlLibrary.UseScript(
            "gpus=1",
            $"gpu.0.memory_total={80 * GiB}",
            $"gpu.0.memory_reserved={512 * MiB}",
            $"gpu.0.memory_used={2 * GiB}",
            $"gpu.0.memory_free={(80 * GiB) - (2 * GiB) - (512 * MiB)}");

        var gpu = (await CollectOnce()).Gpus[0];

        Assert.Equal(2 * GiB, gpu.MemoryUsedBytes);
        Assert.Equal(512 * MiB, gpu.MemoryReservedBytes);
        Assert.Equal(80 * GiB, gpu.MemoryTotalBytes);
        Assert.Equal(gpu.MemoryTotalBytes, gpu.MemoryUsedBytes + gpu.MemoryReservedBytes + gpu.MemoryFreeBytes);
    }

    [Fact]
    public void Collect_OldDriverWithoutMemoryInfoV2_FallsBackToV1WhoseUsedCountsReserved()
    {
        FakeNvmlLibrary.UseScript("gpus=1", $"gpu.0.memory_reserved={512 * MiB}", $"gpu.0.memory_used={2 * GiB}");

        var gpu = IsolatedNvml.Collect(FakeNvmlLibrary.OldDriverPath, collects: 1)[^1].Gpus[0];

        Assert.Equal((2 * GiB) + (512 * MiB), gpu.MemoryUsedBytes);
        Assert.Null(gpu.MemoryReservedBytes);
    }

    [Theory]
    [InlineData("err:25")]
    [InlineData("unsupported")]
    public async Task CollectAsync_MemoryInfoV2Refused_FallsBackToV1(string answer)
    {
        FakeNvmlLibrary.UseScript("gpus=1", $"gpu.0.memory_v2={answer}", $"gpu.0.memory_reserved={512 * MiB}", $"gpu.0.memory_used={2 * GiB}");

        var gpu = (await CollectOnce()).Gpus[0];

        Assert.Equal((2 * GiB) + (512 * MiB), gpu.MemoryUsedBytes);
        Assert.Null(gpu.MemoryReservedBytes);
        Assert.NotNull(gpu.MemoryTotalBytes);
    }

    // 4. Field 38 is the FLIT CRC count; the data CRC count is field 45.

    [Fact]
    public async Task CollectAsync_NvLinkCrc_FlitAndDataCountedApart()
    {
        FakeNvmlLibrary.UseScript("gpus=1", "gpu.0.nvlinks=2", "gpu.0.nvlink.0.crc_flit=5", "gpu.0.nvlink.0.crc_data=7", "gpu.0.nvlink.1.crc_data=unsupported");

        var links = (await CollectOnce()).Gpus[0].NvLinks;

        Assert.Equal(5UL, links[0].CrcFlitErrors);
        Assert.Equal(7UL, links[0].CrcDataErrors);
        Assert.Equal(1UL, links[1].CrcFlitErrors);
        Assert.Null(links[1].CrcDataErrors);
    }

    [Fact]
    public void Render_NvLinkCrcAndReservedMemory_ExposedUnderTheirOwnNames()
    {
        var full = TestSnapshots.Full(withLostGpu: false);
        var gpu = full.Gpus.Gpus[0] with
        {
            MemoryReservedBytes = 536_870_912,
            NvLinks = [new NvLinkSample(0, true, 1000, 2000, 3, 1, 0) { CrcDataErrors = 4 }],
        };
        var snapshot = full with { Gpus = full.Gpus with { Gpus = [gpu] } };

        var text = Encoding.UTF8.GetString(PrometheusRenderer.Render(snapshot, dcgmCompat: false));

        const string Labels = "gpu=\"0\",uuid=\"GPU-00000000-aaaa-bbbb-cccc-dddddddddddd\",model=\"NVIDIA H100 80GB HBM3\"";
        Assert.Contains($"gantry_gpu_nvlink_errors_total{{{Labels},link=\"0\",type=\"crc_flit\"}} 3\n", text, StringComparison.Ordinal);
        Assert.Contains($"gantry_gpu_nvlink_errors_total{{{Labels},link=\"0\",type=\"crc_data\"}} 4\n", text, StringComparison.Ordinal);
        Assert.Contains($"gantry_gpu_memory_reserved_bytes{{{Labels}}} 536870912\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("type=\"crc\"", text, StringComparison.Ordinal);
    }

    // 5. The retired-pages query never relies on a NULL buffer.

    [Fact]
    public async Task CollectAsync_DriverRefusesNullRetiredPagesBuffer_CountsStillRead()
    {
        FakeNvmlLibrary.UseScript("gpus=1", "gpu.0.retired_null=1", "gpu.0.retired_sbe=3", "gpu.0.retired_dbe=0");

        var gpu = (await CollectOnce()).Gpus[0];

        Assert.Equal(3U, gpu.RetiredPagesSingleBit);
        Assert.Equal(0U, gpu.RetiredPagesDoubleBit);
    }

    [Fact]
    public async Task CollectAsync_MoreRetiredPagesThanTheFirstBuffer_BufferGrows()
    {
        FakeNvmlLibrary.UseScript("gpus=1", "gpu.0.retired_null=1", "gpu.0.retired_dbe=150");

        Assert.Equal(150U, (await CollectOnce()).Gpus[0].RetiredPagesDoubleBit);
    }

    // 6. GPU_IS_LOST in one field value means the GPU is lost.

    [Fact]
    public async Task CollectAsync_FieldValueSaysGpuIsLost_GpuReportedLost()
    {
        FakeNvmlLibrary.UseScript("gpus=2", "gpu.0.mem_temp=lost", "gpu.1.power_mw=200000");

        var snapshot = await CollectOnce();

        Assert.True(snapshot.Gpus[0].Lost);
        Assert.Null(snapshot.Gpus[0].PowerWatts);
        Assert.False(snapshot.Gpus[1].Lost);
        Assert.Equal(200, snapshot.Gpus[1].PowerWatts);
        Assert.Single(_logger.Entries, e => e.Id.Id == 1005);
    }

    // 7. Return codes 22-30 have their nvml.h names.

    [Theory]
    [InlineData(22, "NVML_ERROR_VGPU_ECC_NOT_SUPPORTED (22)")]
    [InlineData(23, "NVML_ERROR_INSUFFICIENT_RESOURCES (23)")]
    [InlineData(24, "NVML_ERROR_FREQ_NOT_SUPPORTED (24)")]
    [InlineData(25, "NVML_ERROR_ARGUMENT_VERSION_MISMATCH (25)")]
    [InlineData(26, "NVML_ERROR_DEPRECATED (26)")]
    [InlineData(27, "NVML_ERROR_NOT_READY (27)")]
    [InlineData(28, "NVML_ERROR_GPU_NOT_FOUND (28)")]
    [InlineData(29, "NVML_ERROR_INVALID_STATE (29)")]
    [InlineData(30, "NVML_ERROR_RESET_TYPE_NOT_SUPPORTED (30)")]
    public void Describe_ReturnCodes22To30_NamedAsInTheHeader(int code, string expected) =>
        Assert.Equal(expected, NvmlErrors.Describe((NvmlReturn)code));

    [Fact]
    public async Task CollectAsync_InitAnswersNotReady_MessageNamesIt()
    {
        FakeNvmlLibrary.UseScript("init=27");

        var snapshot = await CollectOnce();

        Assert.Equal("unavailable", snapshot.Status);
        Assert.Equal("NVML initialisation failed: NVML_ERROR_NOT_READY (27)", snapshot.Message);
    }

    // 8. The calls NVML 13.0 deprecated are used only where the newer ones are missing.

    [Fact]
    public async Task CollectAsync_DeprecatedEntryPointsRefused_ReadingsComeFromTheNewerCalls()
    {
        FakeNvmlLibrary.UseScript("gpus=1", "gpu.0.deprecated=err:26", "gpu.0.temp=58", "gpu.0.clock_reasons=0x4");

        var gpu = (await CollectOnce()).Gpus[0];

        Assert.Equal(58, gpu.TemperatureCelsius);
        Assert.Equal(0x4UL, gpu.ClockEventReasons);
    }

    [Fact]
    public async Task CollectAsync_TemperatureVRefused_FallsBackToTheOldCall()
    {
        FakeNvmlLibrary.UseScript("gpus=1", "gpu.0.temp_v=err:25", "gpu.0.temp=52");

        Assert.Equal(52, (await CollectOnce()).Gpus[0].TemperatureCelsius);
    }

    [Fact]
    public void Collect_OldDriverWithoutTemperatureV_UsesTheOldCall()
    {
        FakeNvmlLibrary.UseScript("gpus=1", "gpu.0.temp=49", "gpu.0.clock_reasons=0x20");

        var gpu = IsolatedNvml.Collect(FakeNvmlLibrary.OldDriverPath, collects: 1)[^1].Gpus[0];

        Assert.Equal(49, gpu.TemperatureCelsius);
        Assert.Equal(0x20UL, gpu.ClockEventReasons);
    }

    // 9. The GPU recovery action.

    [Theory]
    [InlineData("0", GpuRecoveryAction.None)]
    [InlineData("1", GpuRecoveryAction.GpuReset)]
    [InlineData("2", GpuRecoveryAction.NodeReboot)]
    [InlineData("3", GpuRecoveryAction.DrainP2P)]
    [InlineData("4", GpuRecoveryAction.DrainAndReset)]
    [InlineData("5", GpuRecoveryAction.GpuResetBus)]
    public async Task CollectAsync_RecoveryActionField_MappedToTheModel(string value, GpuRecoveryAction expected)
    {
        FakeNvmlLibrary.UseScript("gpus=1", $"gpu.0.recovery_action={value}");

        Assert.Equal(expected, (await CollectOnce()).Gpus[0].RecoveryAction);
    }

    [Fact]
    public async Task CollectAsync_RecoveryActionUnsupported_Null()
    {
        FakeNvmlLibrary.UseScript("gpus=1", "gpu.0.recovery_action=unsupported");

        Assert.Null((await CollectOnce()).Gpus[0].RecoveryAction);
    }

    [Fact]
    public void StatusJson_RecoveryAction_WrittenByNameAndReadBack()
    {
        var full = TestSnapshots.Full(withLostGpu: false);
        var gpu = full.Gpus.Gpus[0] with { RecoveryAction = GpuRecoveryAction.DrainAndReset, MemoryReservedBytes = 42 };
        var snapshot = full with { Gpus = full.Gpus with { Gpus = [gpu] } };

        var json = StatusJson.Render(snapshot);
        var back = StatusJson.Parse(json)!.Gpus.Gpus[0];

        Assert.Contains("\"recoveryAction\":\"DrainAndReset\"", Encoding.UTF8.GetString(json), StringComparison.Ordinal);
        Assert.Equal(GpuRecoveryAction.DrainAndReset, back.RecoveryAction);
        Assert.Equal(42UL, back.MemoryReservedBytes);
    }
}
