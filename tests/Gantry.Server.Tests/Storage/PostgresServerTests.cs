using Gantry.Server.Storage.Postgres;
using Gantry.Testing;
using Npgsql;

namespace Gantry.Server.Tests.Storage;

/// <summary>
/// The tests' PostgreSQL (scripts/test.sh's, or one this process starts): each <see cref="PostgresDatabase"/>
/// is a database of its own, reachable in both its forms, and gone once disposed.
/// </summary>
public sealed class PostgresServerTests
{
    [PostgresFact]
    public async Task CreateAsync_TwoDatabases_AreSeparateAndDroppedOnDispose()
    {
        var first = await PostgresDatabase.CreateAsync();
        var second = await PostgresDatabase.CreateAsync();
        string server;
        try
        {
            Assert.NotEqual(first.Name, second.Name);
            Assert.Matches("^gantry_test_[0-9a-f]{16}$", first.Name);
            Assert.EndsWith("/" + first.Name, first.Url, StringComparison.Ordinal);
            server = new NpgsqlConnectionStringBuilder(first.ConnectionString) { Database = "postgres" }.ConnectionString;

            foreach (var db in (PostgresDatabase[])[first, second])
            {
                // The keyword form as Npgsql takes it, and the URL form as the server will read it.
                foreach (var connectionString in (string[])[db.ConnectionString, PostgresUrl.ToConnectionString(db.Url)])
                {
                    await using var connection = new NpgsqlConnection(connectionString);
                    await connection.OpenAsync();
                    Assert.StartsWith("PostgreSQL ", (string?)await Scalar(connection, "SELECT version()"), StringComparison.Ordinal);
                    Assert.Equal(db.Name, await Scalar(connection, "SELECT current_database()"));
                }
            }

            // A table made in one is not in the other.
            await using (var connection = new NpgsqlConnection(first.ConnectionString))
            {
                await connection.OpenAsync();
                await Scalar(connection, "CREATE TABLE only_here (id int)");
            }

            await using (var connection = new NpgsqlConnection(second.ConnectionString))
            {
                await connection.OpenAsync();
                Assert.Equal(0L, await Scalar(connection, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_here'"));
            }
        }
        finally
        {
            await first.DisposeAsync();
            await second.DisposeAsync();
        }

        await using var admin = new NpgsqlConnection(server);
        await admin.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT count(*) FROM pg_database WHERE datname IN (@first, @second)", admin);
        command.Parameters.AddWithValue("first", first.Name);
        command.Parameters.AddWithValue("second", second.Name);
        Assert.Equal(0L, await command.ExecuteScalarAsync());
    }

    [PostgresFact]
    public async Task DisposeAsync_OpenConnection_IsEndedAndTheDatabaseDropped()
    {
        var db = await PostgresDatabase.CreateAsync();
        await using var connection = new NpgsqlConnection(db.ConnectionString);
        await connection.OpenAsync();

        await db.DisposeAsync();
        await db.DisposeAsync();

        await Assert.ThrowsAsync<PostgresException>(() => Scalar(connection, "SELECT 1"));
    }

    private static async Task<object?> Scalar(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }
}
