using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Server.Alerts.Delivery;
using Gantry.Server.Configuration;
using Gantry.Server.Storage;
using Gantry.Server.Storage.Sqlite;
using Gantry.Testing;
using Microsoft.Data.Sqlite;
using static Gantry.Server.Tests.Alerts.Delivery.DeliveryKit;

namespace Gantry.Server.Tests.Alerts.Delivery;

/// <summary>The outbox without a receiver that answers: coalescing, its bound, a store that is down.</summary>
public sealed class OutboxTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);

    private readonly string _dir = Directory.CreateTempSubdirectory("gantry-outbox-").FullName;
    private readonly FakeTimeProvider _time = new(Start);
    private readonly FlakyStore _store;
    private readonly ServerOptions _options = new() { Alertmanagers = [new Uri($"http://127.0.0.1:{Tools.FreePort()}")] };

    public OutboxTests()
    {
        _store = new FlakyStore(SqliteStateStore.Open(Path.Combine(_dir, "gantry.db")));
    }

    public void Dispose()
    {
        _store.Dispose();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void Publish_SameAlertsAgain_ReplacesTheOlderEntry()
    {
        using var delivery = Create(_store, _options, _time);

        delivery.Publish([Firing(Start, gpu: "0"), Firing(Start, gpu: "1")], Start);
        delivery.Publish([Firing(Start, gpu: "0", changed: false), Firing(Start, gpu: "1", changed: false)], Start.AddMinutes(1));

        var stored = Assert.Single(Notifications(_store)).Document;
        Assert.Equal(1, delivery.Queued);
        // It took over the replaced entry's standing: that one reported a start.
        Assert.False(stored.Resend);
        Assert.Equal(0, delivery.Dropped);
    }

    [Fact]
    public void Publish_FewerAlerts_KeepsTheOlderEntry()
    {
        using var delivery = Create(_store, _options, _time);

        delivery.Publish([Firing(Start, gpu: "0"), Firing(Start, gpu: "1")], Start);
        delivery.Publish([Firing(Start, gpu: "0", changed: false)], Start.AddMinutes(1));

        Assert.Equal(2, Notifications(_store).Count);
        Assert.Equal(2, delivery.Queued);
    }

    [Fact]
    public void Publish_PastTheBound_DropsTheOldestResendFirst()
    {
        using var delivery = Create(_store, _options, _time, DeliveryTuning.Default with { MaxEntries = 3 });
        var start = Firing(Start, gpu: "9");
        delivery.Publish([start], Start);
        var resends = new[] { "0", "1", "2" }.Select(gpu => Firing(Start, gpu: gpu, changed: false)).ToArray();
        foreach (var resend in resends)
        {
            delivery.Publish([resend], Start);
        }

        Assert.Equal(3, delivery.Queued);
        Assert.Equal(1, delivery.Dropped);
        Assert.Equal(
            [start.Fingerprint, resends[1].Fingerprint, resends[2].Fingerprint],
            Notifications(_store).Select(n => Assert.Single(n.Document.Alerts)));
    }

    [Fact]
    public async Task Publish_StoreDown_KeptInMemoryAndStoredOnceTheStoreIsBack()
    {
        using var delivery = Create(_store, _options, _time);
        await using var running = new RunningDelivery(delivery);

        _store.Down = true;
        delivery.Publish([Firing(Start)], Start);
        Assert.Equal(1, delivery.Queued);
        // Checked while the store is still down: once it is back, the delivery loop may store it at any moment.
        Assert.Empty(Notifications(_store));

        _store.Down = false;

        // The loop writes it again once the store retry (5 s) falls due.
        await EventuallyAsync(() => Notifications(_store).Count == 1, () => "the notification stored", between: () => _time.Advance(TimeSpan.FromSeconds(1)));
        Assert.Equal(1, delivery.Queued);
    }

    /// <summary>A real store whose writes fail, while <see cref="Down"/>, as a PostgreSQL store that cannot be reached does.</summary>
    private sealed class FlakyStore(IStateStore inner) : IStateStore
    {
        public volatile bool Down;

        public string Description => inner.Description;

        public void Write(Action<IStateWriter> unitOfWork)
        {
            if (Down)
            {
                throw new StoreUnavailableException("cannot connect to the database: test", new IOException("down"));
            }

            inner.Write(unitOfWork);
        }

        public StoredState Load() => inner.Load();

        public void FenceTo(long leaderEpoch) => inner.FenceTo(leaderEpoch);

        public StoredJob? ReadJob(long id) => inner.ReadJob(id);

        public IReadOnlyList<StoredJob> ListJobs(JobState? state, long? before, int limit, string? owner = null, JobKind? kind = null) => inner.ListJobs(state, before, limit, owner, kind);

        public AttemptRow? ReadAttempt(long jobId, int attempt) => inner.ReadAttempt(jobId, attempt);

        public List<EnergyAttempt> ReadEnergyAttempts(DateTimeOffset since) => inner.ReadEnergyAttempts(since);

        public List<LogRecord> ReadLogs(long jobId, long afterSeq, int limit) => inner.ReadLogs(jobId, afterSeq, limit);

        public IReadOnlyList<HealthEvent> ReadHealthEvents(string nodeId, int limit) => inner.ReadHealthEvents(nodeId, limit);

        public Dictionary<JobState, int> PurgeEndedBefore(DateTimeOffset cutoff, int maxJobs) => inner.PurgeEndedBefore(cutoff, maxJobs);

        public void Dispose() => inner.Dispose();
    }
}
