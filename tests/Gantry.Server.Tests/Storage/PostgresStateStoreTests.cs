using System.Globalization;
using Gantry.Core.Jobs;
using Gantry.Server.Storage;
using Gantry.Server.Storage.Postgres;
using Gantry.Testing;
using Npgsql;

namespace Gantry.Server.Tests.Storage;

/// <summary>
/// The store contract against PostgreSQL (a database of its own per test), and what only a shared
/// server brings: several replicas migrating at once, and a server that cannot be had.
/// </summary>
[RequiresPostgres]
public sealed class PostgresStateStoreTests : StateStoreContract
{
    private PostgresDatabase? _database;

    internal override async Task<IStateStore> OpenAsync()
    {
        _database ??= await PostgresDatabase.CreateAsync();
        return PostgresStateStore.Open(_database.Url);
    }

    protected override async Task DeleteAsync()
    {
        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }

    [PostgresFact]
    public async Task Open_SeveralReplicasAtOnce_MigrateOnceAndShareTheState()
    {
        await using var database = await PostgresDatabase.CreateAsync();
        using var start = new Barrier(4);
        var opening = Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            start.SignalAndWait();
            return PostgresStateStore.Open(database.Url);
        })).ToList();
        var stores = await Task.WhenAll(opening);
        try
        {
            Assert.Equal(PostgresMigrations.Scripts.Length, await ScalarAsync(database, "SELECT version FROM schema_version"));
            Assert.Equal(1L, await ScalarAsync(database, "SELECT count(*) FROM schema_version"));

            // What one replica writes, the others read.
            stores[0].Write(w => w.InsertJob(Job(7, JobState.Pending)));
            Assert.All(stores, store => Assert.Equal(JobState.Pending, store.ReadJob(7)!.Job.State));
            stores[1].Write(w => w.SaveToken("admin", [1], DateTimeOffset.UnixEpoch));
            Assert.Equal([1], stores[3].Load().Tokens["admin"]);
        }
        finally
        {
            foreach (var store in stores)
            {
                store.Dispose();
            }
        }
    }

    [PostgresFact]
    public async Task Open_SchemaFromANewerGantry_RefusedWithAClearMessage()
    {
        await using var database = await PostgresDatabase.CreateAsync();
        PostgresStateStore.Open(database.Url).Dispose();
        await ScalarAsync(database, "UPDATE schema_version SET version = 99");

        var error = Assert.Throws<StoreException>(() => PostgresStateStore.Open(database.Url));
        Assert.Contains("schema version 99", error.Message, StringComparison.Ordinal);
        Assert.Contains(database.Name, error.Message, StringComparison.Ordinal);
    }

    [PostgresFact]
    public void Open_NothingListening_ConnectionErrorWithoutThePassword()
    {
        var port = Tools.FreePort();
        var error = Assert.Throws<StoreConnectionException>(() => PostgresStateStore.Open($"postgres://gantry:s3cret@127.0.0.1:{port}/fleet"));
        Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"postgres://gantry@127.0.0.1:{port}/fleet"), error.Address);
        Assert.StartsWith($"cannot connect to {error.Address}: ", error.Message, StringComparison.Ordinal);
        Assert.Contains("refused", error.Reason, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("s3cret", error.ToString(), StringComparison.Ordinal);
    }

    [PostgresFact]
    public async Task Open_NoSuchDatabase_ConnectionErrorNamingIt()
    {
        await using var database = await PostgresDatabase.CreateAsync();
        var missing = database.Url.Replace(database.Name, "gantry_missing", StringComparison.Ordinal);

        var error = Assert.Throws<StoreConnectionException>(() => PostgresStateStore.Open(missing));
        Assert.EndsWith("/gantry_missing", error.Address, StringComparison.Ordinal);
        Assert.Contains("\"gantry_missing\" does not exist", error.Reason, StringComparison.Ordinal);
    }

    [PostgresFact]
    public async Task Open_LoginRefused_ConnectionErrorSayingWhy()
    {
        await using var database = await PostgresDatabase.CreateAsync();
        var builder = new NpgsqlConnectionStringBuilder(database.ConnectionString) { Username = "nobody", Password = "s3cret" };

        var error = Assert.Throws<StoreConnectionException>(() => PostgresStateStore.Open(builder.ConnectionString));
        Assert.StartsWith("postgres://nobody@", error.Address, StringComparison.Ordinal);
        Assert.Contains("\"nobody\"", error.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", error.ToString(), StringComparison.Ordinal);
    }

    private static async Task<object?> ScalarAsync(PostgresDatabase database, string sql)
    {
        await using var connection = new NpgsqlConnection(database.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }
}
