using Gantry.Core.Protocol;
using Gantry.Server.Audit;

namespace Gantry.Server.Storage.Sqlite;

/// <summary>The audit log in the state's SQLite file (<see cref="AuditSchema"/>).</summary>
internal sealed partial class SqliteStateStore : IAuditStore
{
    private const string InsertAudit = "INSERT INTO audit (time, actor, role, address, action, target, status) VALUES ($time, $actor, $role, $address, $action, $target, $status)";

    public void AppendAudit(IReadOnlyList<AuditRecord> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        // One transaction on the writer connection, between the features' units of work.
        Write(_ =>
        {
            foreach (var record in records)
            {
                Execute(
                    InsertAudit,
                    ("$time", record.Time.ToUnixTimeMilliseconds()),
                    ("$actor", record.Actor),
                    ("$role", record.Role),
                    ("$address", record.Address),
                    ("$action", record.Action),
                    ("$target", record.Target),
                    ("$status", record.Status));
            }
        });
    }

    public IReadOnlyList<AuditEntry> ReadAudit(AuditQuery query)
    {
        var (sql, values) = AuditSchema.Select(query, AuditSchema.SqliteParameter);
        var parameters = new (string, object?)[values.Count];
        for (var i = 0; i < values.Count; i++)
        {
            parameters[i] = (AuditSchema.SqliteParameter(i + 1), values[i]);
        }

        using var connection = OpenRead();
        using var q = Query(connection, sql, parameters);
        var r = q.Reader;
        var entries = new List<AuditEntry>();
        while (r.Read())
        {
            entries.Add(AuditSchema.ReadEntry(r));
        }

        return entries;
    }

    public int PurgeAuditBefore(DateTimeOffset cutoff, int max)
    {
        var purged = 0;
        Write(_ =>
        {
            using var command = Command("DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE time < $cutoff ORDER BY id LIMIT $max)");
            command.Parameters.AddWithValue("$cutoff", cutoff.ToUnixTimeMilliseconds());
            command.Parameters.AddWithValue("$max", max);
            purged = command.ExecuteNonQuery();
        });
        return purged;
    }
}
