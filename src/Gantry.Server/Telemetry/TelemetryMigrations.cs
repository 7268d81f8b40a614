namespace Gantry.Server.Telemetry;

/// <summary>
/// The schema of <c>telemetry.db</c>, one script per version, applied like the state store's
/// (<c>PRAGMA user_version</c> records how far it got). Never edit a script that has shipped.
/// </summary>
internal static class TelemetryMigrations
{
    public static readonly string[] Scripts =
    [
        // 1: series, raw samples and per-minute rollups. Times are Unix milliseconds; gpu is -1 for
        // a node-level series. Both sample tables are clustered on (series, time) so a query reads
        // one contiguous range and an append per series lands at the end of its range.
        """
        CREATE TABLE series (
            id INTEGER PRIMARY KEY,
            node_id TEXT NOT NULL,
            gpu INTEGER NOT NULL,
            metric TEXT NOT NULL,
            UNIQUE (node_id, gpu, metric));
        CREATE TABLE raw (
            series_id INTEGER NOT NULL,
            time INTEGER NOT NULL,
            value REAL NOT NULL,
            PRIMARY KEY (series_id, time)) WITHOUT ROWID;
        CREATE TABLE rollup (
            series_id INTEGER NOT NULL,
            minute INTEGER NOT NULL,
            lo REAL NOT NULL,
            hi REAL NOT NULL,
            total REAL NOT NULL,
            n INTEGER NOT NULL,
            PRIMARY KEY (series_id, minute)) WITHOUT ROWID;
        """,
    ];
}
