namespace Gantry.Server.Storage;

/// <summary>
/// The store could not be used for a moment: its database server could not be reached, dropped the
/// connection or timed out, or the disk refused a write. Nothing of the unit of work was stored; the
/// request can be sent again (the API answers 503 with <c>Retry-After</c>, see
/// <c>Api/StoreUnavailableHandler</c>). A leader that stays cut off steps down (<c>Leadership/</c>).
/// </summary>
internal sealed class StoreUnavailableException(string message, Exception innerException) : Exception(message, innerException)
{
    /// <summary>
    /// True for a failure of the store that says nothing about the request: this exception, a
    /// PostgreSQL error Npgsql calls transient (a lost connection, a timeout, the server shutting
    /// down or out of resources), or an SQLite file that is busy, locked or cannot be written.
    /// </summary>
    public static bool Covers(Exception exception) =>
        exception is StoreUnavailableException
        || Postgres.PostgresStateStore.IsTransient(exception)
        || Sqlite.SqliteStateStore.IsTransient(exception);
}
