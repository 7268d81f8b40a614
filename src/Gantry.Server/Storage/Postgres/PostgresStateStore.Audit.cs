using Gantry.Core.Protocol;
using Gantry.Server.Audit;
using Npgsql;

namespace Gantry.Server.Storage.Postgres;

/// <summary>The audit log in the shared database (<see cref="AuditSchema"/>).</summary>
internal sealed partial class PostgresStateStore : IAuditStore
{
    /// <summary>
    /// One batch, one round trip, one implicit transaction. Not a unit of work: appends are not fenced
    /// (<see cref="IAuditStore"/> says why) and need not wait behind the features' writes.
    /// </summary>
    public void AppendAudit(IReadOnlyList<AuditRecord> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (records.Count == 0)
        {
            return;
        }

        using var connection = Open(_dataSource);
        using var batch = new NpgsqlBatch(connection);
        foreach (var record in records)
        {
            batch.BatchCommands.Add(Command(
                "INSERT INTO audit (time, actor, role, address, action, target, status) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                P(record.Time.ToUnixTimeMilliseconds()),
                P(record.Actor),
                P(record.Role),
                P(record.Address),
                P(record.Action),
                P(record.Target),
                P(record.Status)));
        }

        batch.ExecuteNonQuery();
    }

    public IReadOnlyList<AuditEntry> ReadAudit(AuditQuery query)
    {
        var (sql, values) = AuditSchema.Select(query, static i => "$" + i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var connection = Open(_dataSource);
        using var command = new NpgsqlCommand(sql, connection);
        foreach (var value in values)
        {
            command.Parameters.Add(value switch
            {
                long number => P(number),
                int number => P(number),
                string text => P(text),
                _ => throw new ArgumentException($"an audit query has no parameters of type {value.GetType()}", nameof(query)),
            });
        }

        using var r = command.ExecuteReader();
        var entries = new List<AuditEntry>();
        while (r.Read())
        {
            entries.Add(AuditSchema.ReadEntry(r));
        }

        return entries;
    }

    public int PurgeAuditBefore(DateTimeOffset cutoff, int max)
    {
        using var connection = Open(_dataSource);
        using var command = new NpgsqlCommand("DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE time < $1 ORDER BY id LIMIT $2)", connection)
        {
            Parameters = { P(cutoff.ToUnixTimeMilliseconds()), P(max) },
        };
        return command.ExecuteNonQuery();
    }
}
