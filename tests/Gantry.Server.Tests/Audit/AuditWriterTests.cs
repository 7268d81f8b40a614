using Gantry.Core.Protocol;
using Gantry.Server.Audit;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gantry.Server.Tests.Audit;

/// <summary>The audit queue and its writer when the store fails: nothing is lost while the queue has room, and what does not fit is counted.</summary>
public sealed class AuditWriterTests
{
    private static AuditRecord Record(int i) => new(DateTimeOffset.UnixEpoch.AddSeconds(i), "admin", "admin", "127.0.0.1", "node.drain", "n" + i, 200);

    [Fact]
    public async Task StoreDown_RecordsWaitAndAreStoredInOrderOnceItIsBack()
    {
        var store = new FlakyAuditStore { FailuresLeft = 3 };
        var log = new AuditLog(store, TimeProvider.System, NullLogger<AuditLog>.Instance);
        using var writer = new AuditWriter(store, log, TimeProvider.System, NullLogger<AuditWriter>.Instance);
        await writer.StartAsync(CancellationToken.None);
        for (var i = 0; i < 5; i++)
        {
            log.Record(Record(i));
        }

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (store.Stored.Count < 5)
        {
            Assert.True(DateTime.UtcNow < deadline, $"stored {store.Stored.Count} of 5");
            await Task.Delay(20);
        }

        Assert.Equal(["n0", "n1", "n2", "n3", "n4"], store.Stored.Select(r => r.Target));
        Assert.Equal(0, store.FailuresLeft);
        Assert.Equal(0, log.Pending);
        Assert.Equal(0, log.Dropped);
        await writer.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task QueueFull_RecordIsDroppedAndCounted_StopStoresTheRest()
    {
        var store = new FlakyAuditStore();
        var log = new AuditLog(store, TimeProvider.System, NullLogger<AuditLog>.Instance);
        for (var i = 0; i < AuditLog.Capacity + 2; i++)
        {
            log.Record(Record(i));
        }

        Assert.Equal(2, log.Dropped);
        Assert.Equal(AuditLog.Capacity, log.Pending);

        // Stopped before it ran: what is queued is stored at stop.
        using var writer = new AuditWriter(store, log, TimeProvider.System, NullLogger<AuditWriter>.Instance);
        await writer.StopAsync(CancellationToken.None);
        Assert.Equal(AuditLog.Capacity, store.Stored.Count);
        Assert.Equal(0, log.Pending);
    }

    private sealed class FlakyAuditStore : IAuditStore
    {
        private readonly Lock _lock = new();

        public List<AuditRecord> Stored { get; } = [];

        public int FailuresLeft { get; set; }

        public void AppendAudit(IReadOnlyList<AuditRecord> records)
        {
            lock (_lock)
            {
                if (FailuresLeft > 0)
                {
                    FailuresLeft--;
                    throw new IOException("the store is down");
                }

                Stored.AddRange(records);
            }
        }

        public IReadOnlyList<AuditEntry> ReadAudit(AuditQuery query) => [];

        public int PurgeAuditBefore(DateTimeOffset cutoff, int max) => 0;
    }
}
