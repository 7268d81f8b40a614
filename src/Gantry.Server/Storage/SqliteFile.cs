using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Gantry.Server.Storage;

/// <summary>
/// Opens one of the server's SQLite files the way every store needs it: the directory created,
/// one unpooled writer connection in WAL mode with <c>synchronous=NORMAL</c>, the pending schema
/// scripts applied (each in its own transaction, <c>PRAGMA user_version</c> recording how far it
/// got), and a pooled read-only connection string for readers.
/// </summary>
internal static class SqliteFile
{
    /// <summary>
    /// Opens <paramref name="path"/> and brings it to <c>scripts.Length</c>. <paramref name="what"/>
    /// names the file in errors ("the database", "the telemetry database"); a file from a newer
    /// gantry is refused with a <see cref="StoreException"/>.
    /// </summary>
    public static (SqliteConnection Writer, string ReadConnectionString) Open(string path, IReadOnlyList<string> scripts, string what, bool foreignKeys)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var builder = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false };
        var writer = new SqliteConnection(builder.ToString());
        writer.Open();
        try
        {
            Execute(writer, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;" + (foreignKeys ? " PRAGMA foreign_keys=ON;" : ""));
            Migrate(writer, scripts, what);
        }
        catch
        {
            writer.Dispose();
            throw;
        }

        var read = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = true };
        return (writer, read.ToString());
    }

    private static void Migrate(SqliteConnection connection, IReadOnlyList<string> scripts, string what)
    {
        long version;
        using (var command = connection.CreateCommand())
        {
            command.CommandText = "PRAGMA user_version";
            version = Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
        }

        if (version > scripts.Count)
        {
            throw new StoreException($"{what} is at schema version {version}, newer than this gantry understands ({scripts.Count}); use a newer gantry");
        }

        for (var next = version + 1; next <= scripts.Count; next++)
        {
            using var tx = connection.BeginTransaction();
            using (var command = connection.CreateCommand())
            {
                command.Transaction = tx;
                command.CommandText = scripts[(int)next - 1] + $"\nPRAGMA user_version = {next};";
                command.ExecuteNonQuery();
            }

            tx.Commit();
        }
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
