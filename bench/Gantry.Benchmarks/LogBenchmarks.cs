using BenchmarkDotNet.Attributes;
using Gantry.Agent.ControlPlane;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Server.Jobs;

namespace Gantry.Benchmarks;

/// <summary>
/// A node with 8 GPUs running two one-GPU jobs, brought there the way the server does it: register,
/// submit, one scheduling pass (<see cref="ControlPlaneFixture.SchedulingPass"/>), and the agent's
/// <c>started</c> report for each attempt.
/// </summary>
internal sealed class RunningJobs : IDisposable
{
    /// <summary>Bytes of one log chunk (ASCII, so characters too): about one line of training output.</summary>
    public const int ChunkBytes = 200;

    public const string NodeId = "node-logs";

    /// <summary>One chunk of output: 199 characters and a line feed.</summary>
    public static readonly string ChunkText =
        "step 001234/100000 | loss 2.318745 | lr 3.0000e-04 | grad_norm 0.8731 | tokens/s 48213.7 | mfu 41.2% | gpu_mem 71.3 GiB | elapsed 01:02:03 | eta 2d 03:04:05 | data epoch 3 shard 0117 of 1024 ok...".PadRight(ChunkBytes - 1, '.') + "\n";

    private RunningJobs(ControlPlaneFixture fixture, Assignment writer, Assignment reader)
    {
        Fixture = fixture;
        Writer = writer;
        Reader = reader;
    }

    public ControlPlaneFixture Fixture { get; }

    public JobQueue Jobs => Fixture.Jobs;

    /// <summary>The running attempt the append benchmark uploads to.</summary>
    public Assignment Writer { get; }

    /// <summary>The running attempt whose stored output the read benchmark pages through.</summary>
    public Assignment Reader { get; }

    public static async Task<RunningJobs> StartAsync(CancellationToken cancellationToken)
    {
        var (_, current) = await NodeSample.TakeAsync(cancellationToken).ConfigureAwait(false);
        var fixture = ControlPlaneFixture.Create();
        fixture.Register(NodeId, NodeReport.Inventory(current.Gpus), "z0");
        var job = new JobSubmission
        {
            Name = "train",
            Command = ["python", "train.py"],
            Resources = new ResourceRequest { Gpus = 1, Cpus = 8, MemoryBytes = 64L << 30 },
        };
        var (_, count) = fixture.Jobs.Submit(job with { Array = new ArrayRange { Start = 0, End = 1 } });
        if (fixture.SchedulingPass() is var placed && placed != count)
        {
            throw new InvalidOperationException($"the scheduling pass placed {placed} of {count} jobs");
        }

        var attempts = fixture.Nodes.Assignments(NodeId)!.Value.Response.Attempts;
        foreach (var a in attempts)
        {
            var started = new AttemptEvent { Epoch = a.Epoch, Type = AttemptEventType.Started, Time = TimeProvider.System.GetUtcNow(), Pid = 4242 };
            Check(fixture.Jobs.Report(NodeId, a.JobId, a.Attempt, started));
        }

        return new RunningJobs(fixture, attempts[0], attempts[1]);
    }

    /// <summary>An upload of <paramref name="count"/> stdout chunks starting at character <paramref name="offset"/>.</summary>
    public static LogUpload Upload(long epoch, long offset, int count)
    {
        var chunks = new LogChunk[count];
        for (var i = 0; i < count; i++)
        {
            chunks[i] = new LogChunk { Stream = LogSource.Stdout, Offset = offset + ((long)i * ChunkBytes), Data = ChunkText };
        }

        return new LogUpload { Epoch = epoch, Chunks = chunks };
    }

    public static void Check(ReportOutcome outcome)
    {
        if (outcome != ReportOutcome.Accepted)
        {
            throw new InvalidOperationException($"the control plane answered {outcome}");
        }
    }

    public void Dispose() => Fixture.Dispose();
}

/// <summary>
/// Log streaming, ingest side: <c>JobLogs.Append</c> of one upload of <see cref="Chunks"/>
/// chunks of 200 bytes to a running attempt, stored in SQLite in one transaction. Every call
/// continues the stream (new offsets), so every chunk is inserted, none skipped as a repeat. The
/// agent sends a batch once 64 Ki characters wait (about 320 such chunks) or after a short linger.
/// </summary>
[MemoryDiagnoser]
public class LogAppendBenchmark
{
    private RunningJobs _jobs = null!;
    private long _offset;

    [Params(1, 32, 320)]
    public int Chunks { get; set; }

    [GlobalSetup]
    public async Task Setup() => _jobs = await RunningJobs.StartAsync(CancellationToken.None).ConfigureAwait(false);

    [GlobalCleanup]
    public void Cleanup() => _jobs.Dispose();

    // Building the upload (Chunks small records sharing one string) is part of the measured call;
    // the endpoint's JSON parse of it is not.
    [Benchmark]
    public bool Append()
    {
        var writer = _jobs.Writer;
        var upload = RunningJobs.Upload(writer.Epoch, _offset, Chunks);
        _offset += (long)Chunks * RunningJobs.ChunkBytes;
        return _jobs.Fixture.Logs.Append(RunningJobs.NodeId, writer.JobId, writer.Attempt, upload) == ReportOutcome.Accepted;
    }
}

/// <summary>
/// Log streaming, read side: <c>JobLogs.Read</c> of one page (<see cref="PageSize"/> chunks,
/// what <c>GET /api/v1/jobs/{id}/logs</c> reads per round) from a job holding <see cref="StoredChunks"/>
/// chunks of 200 bytes, on the store's pooled read-only connection.
/// </summary>
[MemoryDiagnoser]
public class LogReadBenchmark
{
    /// <summary>JobEndpoints.LogPage.</summary>
    public const int PageSize = 500;

    public const int StoredChunks = 2_000;

    private RunningJobs _jobs = null!;
    private long _after;

    [GlobalSetup]
    public async Task Setup()
    {
        _jobs = await RunningJobs.StartAsync(CancellationToken.None).ConfigureAwait(false);
        var reader = _jobs.Reader;
        for (var sent = 0; sent < StoredChunks; sent += 250)
        {
            var upload = RunningJobs.Upload(reader.Epoch, (long)sent * RunningJobs.ChunkBytes, 250);
            RunningJobs.Check(_jobs.Fixture.Logs.Append(RunningJobs.NodeId, reader.JobId, reader.Attempt, upload));
        }

        // Page from the middle of the job's output, as a follower catching up does.
        _after = _jobs.Fixture.Logs.Read(reader.JobId, 0, PageSize)[^1].Seq!.Value;
        if (_jobs.Fixture.Logs.Read(reader.JobId, _after, PageSize).Count != PageSize)
        {
            throw new InvalidOperationException("the job does not hold a full page after the first");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _jobs.Dispose();

    [Benchmark]
    public List<LogRecord> ReadPage() => _jobs.Fixture.Logs.Read(_jobs.Reader.JobId, _after, PageSize);
}
