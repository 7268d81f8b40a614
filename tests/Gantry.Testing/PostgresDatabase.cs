using System.Globalization;
using System.Security.Cryptography;
using Gantry.Server.Storage.Postgres;
using Npgsql;

namespace Gantry.Testing;

/// <summary>
/// A fresh, empty database of its own on the tests' PostgreSQL server (<see cref="PostgresServer"/>),
/// dropped on dispose: <c>await using var db = await PostgresDatabase.CreateAsync();</c>.
/// </summary>
public sealed class PostgresDatabase : IAsyncDisposable
{
    private readonly string _serverConnectionString;
    private int _disposed;

    private PostgresDatabase(string name, string url, string connectionString, string serverConnectionString)
    {
        Name = name;
        Url = url;
        ConnectionString = connectionString;
        _serverConnectionString = serverConnectionString;
    }

    /// <summary>The database's name, <c>gantry_test_</c> and 16 random hex digits.</summary>
    public string Name { get; }

    /// <summary>The database as a URL, what <c>gantry server --store</c> takes: <c>postgres://postgres@127.0.0.1:PORT/gantry_test_…</c>.</summary>
    public string Url { get; }

    /// <summary>The database as an Npgsql connection string: <c>Host=127.0.0.1;Port=PORT;Username=postgres;Database=gantry_test_…</c>.</summary>
    public string ConnectionString { get; }

    /// <summary>
    /// Creates a database with a new name on the server, which the first call starts when
    /// <c>GANTRY_TEST_POSTGRES</c> is unset. Throws, saying why, where no server can be had.
    /// </summary>
    public static async Task<PostgresDatabase> CreateAsync(CancellationToken cancellationToken = default)
    {
        var serverUrl = await PostgresServer.GetUrlAsync(cancellationToken).ConfigureAwait(false);
        var server = new NpgsqlConnectionStringBuilder(PostgresUrl.ToConnectionString(serverUrl));
        var name = "gantry_test_" + RandomNumberGenerator.GetHexString(16, lowercase: true);

        await using (var connection = new NpgsqlConnection(server.ConnectionString))
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        var database = new NpgsqlConnectionStringBuilder(server.ConnectionString) { Database = name };
        return new PostgresDatabase(name, WithDatabase(serverUrl, server, name), database.ConnectionString, server.ConnectionString);
    }

    /// <summary>
    /// Lets clients connect to the database again (<paramref name="accept"/>), or refuses every new
    /// connection and ends every open one but this helper's, as when the database server goes away.
    /// </summary>
    public async Task SetAcceptingConnectionsAsync(bool accept)
    {
        await using var connection = new NpgsqlConnection(_serverConnectionString);
        await connection.OpenAsync().ConfigureAwait(false);
        var sql = accept
            ? $"ALTER DATABASE {Name} ALLOW_CONNECTIONS true"
            : $"ALTER DATABASE {Name} ALLOW_CONNECTIONS false; SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{Name}'";
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    /// <summary>Drops the database, closing whatever connections to it are still open.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // Idle pooled connections of this process go quietly first; FORCE ends any others.
        await using (var pooled = new NpgsqlConnection(ConnectionString))
        {
            NpgsqlConnection.ClearPool(pooled);
        }

        await using var connection = new NpgsqlConnection(_serverConnectionString);
        await connection.OpenAsync().ConfigureAwait(false);
        await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS {Name} WITH (FORCE)", connection);
        await command.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public override string ToString() => Url;

    // The server's URL with the database's name as its path, its other parts (user, password, query)
    // kept; a server given as a keyword string is written out as a URL of its own.
    private static string WithDatabase(string serverUrl, NpgsqlConnectionStringBuilder server, string name)
    {
        var schemeEnd = serverUrl.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd < 0)
        {
            var user = Uri.EscapeDataString(server.Username ?? "postgres");
            var password = server.Password is { } p ? ":" + Uri.EscapeDataString(p) : "";
            var host = server.Host!.Contains(':', StringComparison.Ordinal) ? $"[{server.Host}]" : server.Host;
            return string.Create(CultureInfo.InvariantCulture, $"postgres://{user}{password}@{host}:{server.Port}/{name}");
        }

        var pathStart = serverUrl.IndexOfAny(['/', '?'], schemeEnd + 3);
        if (pathStart < 0)
        {
            return $"{serverUrl}/{name}";
        }

        var query = serverUrl.IndexOf('?', pathStart);
        return serverUrl[..pathStart] + "/" + name + (query < 0 ? "" : serverUrl[query..]);
    }
}
