using Npgsql;

namespace Gantry.Testing;

/// <summary>
/// Where a server under test keeps its state: SQLite in its data dir (the default), or, with
/// <c>GANTRY_TEST_STORE=postgres</c>, a fresh PostgreSQL database of its own (<see cref="PostgresDatabase"/>),
/// dropped on dispose. scripts/test.sh runs the server, end-to-end and browser tests once each way.
/// </summary>
public sealed class TestStore : IAsyncDisposable
{
    /// <summary>The environment variable that picks the store: unset or <c>sqlite</c>, or <c>postgres</c>.</summary>
    public const string Variable = "GANTRY_TEST_STORE";

    private TestStore(PostgresDatabase? postgres)
    {
        Postgres = postgres;
    }

    /// <summary>True when <c>GANTRY_TEST_STORE</c> asks for PostgreSQL; a value it does not know throws.</summary>
    public static bool UsesPostgres => Environment.GetEnvironmentVariable(Variable) switch
    {
        null or "" or "sqlite" => false,
        "postgres" => true,
        var other => throw new InvalidOperationException($"{Variable}={other}: expected sqlite or postgres"),
    };

    /// <summary>The database, with PostgreSQL; null with SQLite.</summary>
    public PostgresDatabase? Postgres { get; }

    /// <summary>What <c>--store</c> takes: the database's URL, or null for SQLite in the data dir.</summary>
    public string? Url => Postgres?.Url;

    /// <summary><c>--store URL</c> for <c>gantry server</c> and <c>gantry dev</c>, or nothing for SQLite.</summary>
    public IReadOnlyList<string> Arguments => Url is { } url ? ["--store", url] : [];

    /// <summary>The store <c>GANTRY_TEST_STORE</c> asks for; with PostgreSQL, a new database.</summary>
    public static async Task<TestStore> CreateAsync(CancellationToken cancellationToken = default) =>
        new(UsesPostgres ? await PostgresDatabase.CreateAsync(cancellationToken).ConfigureAwait(false) : null);

    /// <summary>
    /// Forgets everything a stopped server stored (its tokens files and telemetry stay in <paramref name="dataDir"/>):
    /// the SQLite files go, or the database's tables.
    /// </summary>
    public async Task WipeAsync(string dataDir)
    {
        if (Postgres is null)
        {
            foreach (var file in Directory.GetFiles(dataDir, "gantry.db*"))
            {
                File.Delete(file);
            }

            return;
        }

        await using var connection = new NpgsqlConnection(Postgres.ConnectionString);
        await connection.OpenAsync().ConfigureAwait(false);
        await using var command = new NpgsqlCommand("DROP SCHEMA public CASCADE; CREATE SCHEMA public", connection);
        await command.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public override string ToString() => Url ?? "SQLite";

    /// <summary>Drops the database, if there is one.</summary>
    public ValueTask DisposeAsync() => Postgres?.DisposeAsync() ?? ValueTask.CompletedTask;
}
