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

        // 2: raw samples clustered by minute first. Clustered on (series, time), every batch of
        // heartbeats put one row on the tail page of every series, so once each series had a page
        // of its own a batch of S samples dirtied S pages (4 KiB written to the WAL and again at
        // checkpoint per 24-byte sample) and ingest slowed as the table grew. Clustered on
        // (minute, series, ms into the minute) a batch only touches the current minute's pages,
        // a query still reads each minute's samples of a series as one contiguous run (one seek
        // per minute), and retention deletes a contiguous range. Rollups are no longer upserted
        // per batch: a minute is rolled up from raw in one pass once it is complete, and
        // `rolled.minute` (Unix minutes) is the first minute not rolled up yet; a query reads
        // rollup rows below it and aggregates raw samples from it on. The existing raw samples
        // are copied (one sort of the table: on a large file this step takes a while once), and
        // every minute up to the newest sample or rollup counts as rolled up, as it already was.
        """
        CREATE TABLE raw_by_minute (
            minute INTEGER NOT NULL,
            series_id INTEGER NOT NULL,
            ms INTEGER NOT NULL,
            value REAL NOT NULL,
            PRIMARY KEY (minute, series_id, ms)) WITHOUT ROWID;
        INSERT INTO raw_by_minute (minute, series_id, ms, value)
            SELECT (time - ((time % 60000) + 60000) % 60000) / 60000, series_id, ((time % 60000) + 60000) % 60000, value
            FROM raw ORDER BY 1, 2, 3;
        DROP TABLE raw;
        ALTER TABLE raw_by_minute RENAME TO raw;
        CREATE TABLE rolled (minute INTEGER NOT NULL);
        INSERT INTO rolled (minute) SELECT max(
            coalesce((SELECT max(minute) + 1 FROM raw), 0),
            coalesce((SELECT max(minute) / 60000 + 1 FROM rollup), 0));
        """,
    ];
}
