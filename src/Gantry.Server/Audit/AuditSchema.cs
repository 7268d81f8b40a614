using System.Data.Common;
using System.Globalization;
using System.Text;
using Gantry.Core.Protocol;

namespace Gantry.Server.Audit;

/// <summary>
/// The audit log's table, one script per store. Each is one entry of its store's migrations
/// (<see cref="Storage.Sqlite.SqliteMigrations"/>, <see cref="Storage.Postgres.PostgresMigrations"/>),
/// at the same version in both; the version is wherever those lists place it.
/// </summary>
/// <remarks>
/// Rows are only ever appended, and deleted oldest first by <c>--audit-retention</c>. Times are Unix
/// milliseconds. Reads filter on time, actor or action and page newest first by id, hence the indexes.
/// </remarks>
internal static class AuditSchema
{
    public const string Sqlite = """
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            time INTEGER NOT NULL,
            actor TEXT NOT NULL,
            role TEXT,
            address TEXT,
            action TEXT NOT NULL,
            target TEXT,
            status INTEGER NOT NULL);
        CREATE INDEX audit_time ON audit(time);
        CREATE INDEX audit_actor ON audit(actor, id);
        CREATE INDEX audit_action ON audit(action, id);
        """;

    public const string Postgres = """
        CREATE TABLE audit (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            time bigint NOT NULL,
            actor text NOT NULL,
            role text,
            address text,
            action text NOT NULL,
            target text,
            status integer NOT NULL);
        CREATE INDEX audit_time ON audit (time);
        CREATE INDEX audit_actor ON audit (actor, id);
        CREATE INDEX audit_action ON audit (action, id);
        """;

    /// <summary>The columns <see cref="ReadEntry"/> reads, in its order.</summary>
    public const string Columns = "id, time, actor, role, address, action, target, status";

    /// <summary>
    /// The SELECT of <paramref name="query"/> with its parameter values in order; <paramref name="name"/>
    /// spells the store's i-th parameter (<c>$p1</c> in SQLite, <c>$1</c> in PostgreSQL).
    /// </summary>
    public static (string Sql, List<object> Values) Select(AuditQuery query, Func<int, string> name)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(name);
        var sql = new StringBuilder("SELECT " + Columns + " FROM audit");
        var values = new List<object>(5);
        Where(query.Since?.ToUnixTimeMilliseconds(), "time >=");
        Where(query.Actor, "actor =");
        Where(query.Action, "action =");
        Where(query.Before, "id <");
        values.Add(query.Limit);
        sql.Append(" ORDER BY id DESC LIMIT ").Append(name(values.Count));
        return (sql.ToString(), values);

        void Where(object? value, string condition)
        {
            if (value is null)
            {
                return;
            }

            values.Add(value);
            sql.Append(values.Count == 1 ? " WHERE " : " AND ").Append(condition).Append(' ').Append(name(values.Count));
        }
    }

    /// <summary>A row selected with <see cref="Columns"/>.</summary>
    public static AuditEntry ReadEntry(DbDataReader r)
    {
        ArgumentNullException.ThrowIfNull(r);
        var status = r.GetInt32(7);
        return new AuditEntry
        {
            Id = r.GetInt64(0),
            Time = DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(1)),
            Actor = r.GetString(2),
            Role = r.IsDBNull(3) ? null : r.GetString(3),
            Address = r.IsDBNull(4) ? null : r.GetString(4),
            Action = r.GetString(5),
            Target = r.IsDBNull(6) ? null : r.GetString(6),
            Status = status,
            Outcome = AuditEntry.OutcomeOf(status),
        };
    }

    /// <summary>A parameter name of SQLite's for <see cref="Select"/>.</summary>
    public static string SqliteParameter(int index) => "$p" + index.ToString(CultureInfo.InvariantCulture);
}
