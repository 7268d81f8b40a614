using Npgsql;

namespace Gantry.Server.Leadership;

/// <summary>
/// The leader lease in PostgreSQL: one row holding the leader's id, address, epoch and expiry. A replica
/// takes the row when it has expired (the epoch then rises by one) and renews it while it holds it. Expiry
/// is compared with the database's clock, so replicas' clocks never matter.
/// </summary>
/// <remarks>
/// A lease row rather than an advisory lock: a session lock is only released once the database notices
/// the holder's connection is gone, which after a network cut can take as long as TCP keep-alive allows;
/// a lease runs out on time, and the holder steps down before it does (<see cref="Leadership"/>).
/// </remarks>
internal sealed class PostgresLeaderLease : ILeaderLease
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly string _holder = Guid.NewGuid().ToString("N");
    private readonly TimeSpan _duration;
    private bool _created;

    /// <summary>
    /// <c>gantry_fence_v1(epoch)</c>: the first statement of every unit of work a leader writes
    /// (<see cref="Storage.Postgres.PostgresStateStore.FenceTo"/>). It takes a share lock on the lease
    /// row, so a replica taking the lease waits until the unit is committed, and fails with SQLSTATE
    /// <see cref="FencedState"/> (the whole unit with it) when the lease has passed to a newer epoch: a
    /// leader that was paused or cut off past its lease cannot write over its successor's state.
    /// </summary>
    internal const string FenceFunction = """
        CREATE FUNCTION gantry_fence_v1(leader_epoch bigint) RETURNS bigint LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM 1 FROM gantry_leader WHERE id = 1 AND epoch = leader_epoch FOR SHARE;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'the leader lease has passed on from epoch %', leader_epoch USING ERRCODE = 'GF001';
            END IF;
            RETURN leader_epoch;
        END $$
        """;

    /// <summary>The SQLSTATE of a write refused by <see cref="FenceFunction"/>.</summary>
    internal const string FencedState = "GF001";

    public PostgresLeaderLease(string connectionString, TimeSpan duration)
    {
        _dataSource = new NpgsqlSlimDataSourceBuilder(connectionString).Build();
        _duration = duration;
    }

    public async Task<LeaseState> AcquireOrRenewAsync(string advertiseUrl, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        if (!_created)
        {
            await using var create = new NpgsqlCommand(
                """
                CREATE TABLE IF NOT EXISTS gantry_leader (
                    id int PRIMARY KEY CHECK (id = 1),
                    holder text NOT NULL,
                    url text NOT NULL,
                    epoch bigint NOT NULL,
                    expires_at timestamptz NOT NULL)
                """,
                connection);
            await using var fence = new NpgsqlCommand(FenceFunction, connection);
            foreach (var command in new[] { create, fence })
            {
                try
                {
                    await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.DuplicateTable or PostgresErrorCodes.DuplicateObject or PostgresErrorCodes.DuplicateFunction)
                {
                    // Another replica created it at the same moment, or before.
                }
            }

            _created = true;
        }

        await using var take = new NpgsqlCommand(
            """
            INSERT INTO gantry_leader (id, holder, url, epoch, expires_at) VALUES (1, $1, $2, 1, now() + $3)
            ON CONFLICT (id) DO UPDATE SET
                epoch = CASE WHEN gantry_leader.holder = $1 THEN gantry_leader.epoch ELSE gantry_leader.epoch + 1 END,
                holder = $1, url = $2, expires_at = now() + $3
            WHERE gantry_leader.holder = $1 OR gantry_leader.expires_at < now()
            RETURNING epoch
            """,
            connection);
        take.Parameters.Add(new NpgsqlParameter<string> { TypedValue = _holder });
        take.Parameters.Add(new NpgsqlParameter<string> { TypedValue = advertiseUrl });
        take.Parameters.Add(new NpgsqlParameter<TimeSpan> { TypedValue = _duration });
        if (await take.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is long epoch)
        {
            return new LeaseState(true, epoch, advertiseUrl);
        }

        await using var read = new NpgsqlCommand("SELECT url, epoch FROM gantry_leader WHERE id = 1 AND expires_at >= now()", connection);
        await using var reader = await read.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false)
            ? new LeaseState(false, reader.GetInt64(1), reader.GetString(0))
            : new LeaseState(false, 0, null);
    }

    public async Task ReleaseAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var release = new NpgsqlCommand("UPDATE gantry_leader SET expires_at = now() - interval '1 second' WHERE id = 1 AND holder = $1", connection);
        release.Parameters.Add(new NpgsqlParameter<string> { TypedValue = _holder });
        await release.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();
}
