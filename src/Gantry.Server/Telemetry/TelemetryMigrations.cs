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
        // 3: one row per source and sample, a column per metric. A source is a node (gpu -1) or
        // one of its GPUs; column mK holds the metric in slot K of TelemetryMetrics.Node or
        // TelemetryMetrics.Gpu (NULL where the reading was absent), and the minute rollups keep
        // lo/hi/sum/n per slot. One row per reading (67 per 8-GPU heartbeat, 335,000 rows a second
        // with 25,000 nodes) made the writer the server's largest cost per heartbeat and left it
        // dropping summaries; now an 8-GPU heartbeat is 9 rows. `rolled.minute` keeps its meaning;
        // rollup minutes are now Unix minutes, as in samples.
        """
        CREATE TABLE sources (
            id INTEGER PRIMARY KEY,
            node_id TEXT NOT NULL,
            gpu INTEGER NOT NULL,
            UNIQUE (node_id, gpu));
        CREATE TABLE samples (
            minute INTEGER NOT NULL,
            source_id INTEGER NOT NULL,
            ms INTEGER NOT NULL,
            m0 REAL, m1 REAL, m2 REAL, m3 REAL, m4 REAL, m5 REAL, m6 REAL, m7 REAL,
            PRIMARY KEY (minute, source_id, ms)) WITHOUT ROWID;
        CREATE TABLE minutes (
            source_id INTEGER NOT NULL,
            minute INTEGER NOT NULL,
            lo0 REAL, hi0 REAL, sum0 REAL NOT NULL, n0 INTEGER NOT NULL,
            lo1 REAL, hi1 REAL, sum1 REAL NOT NULL, n1 INTEGER NOT NULL,
            lo2 REAL, hi2 REAL, sum2 REAL NOT NULL, n2 INTEGER NOT NULL,
            lo3 REAL, hi3 REAL, sum3 REAL NOT NULL, n3 INTEGER NOT NULL,
            lo4 REAL, hi4 REAL, sum4 REAL NOT NULL, n4 INTEGER NOT NULL,
            lo5 REAL, hi5 REAL, sum5 REAL NOT NULL, n5 INTEGER NOT NULL,
            lo6 REAL, hi6 REAL, sum6 REAL NOT NULL, n6 INTEGER NOT NULL,
            lo7 REAL, hi7 REAL, sum7 REAL NOT NULL, n7 INTEGER NOT NULL,
            PRIMARY KEY (source_id, minute)) WITHOUT ROWID;
        INSERT INTO sources (node_id, gpu) SELECT DISTINCT node_id, gpu FROM series ORDER BY node_id, gpu;
        CREATE TABLE series_slots AS SELECT s.id AS series_id, src.id AS source_id,
            CASE WHEN s.gpu < 0 THEN CASE s.metric WHEN 'cpu_utilization' THEN 0 WHEN 'memory_used_bytes' THEN 1 WHEN 'power_watts' THEN 2 END
            ELSE CASE s.metric WHEN 'utilization' THEN 0 WHEN 'memory_used_bytes' THEN 1 WHEN 'temperature_celsius' THEN 2 WHEN 'power_watts' THEN 3 WHEN 'energy_joules' THEN 4 WHEN 'sm_clock_hertz' THEN 5 WHEN 'memory_clock_hertz' THEN 6 WHEN 'throttled' THEN 7 END END AS slot
            FROM series s JOIN sources src ON src.node_id = s.node_id AND src.gpu = s.gpu;
        INSERT INTO samples
            SELECT r.minute, x.source_id, r.ms,
                max(CASE x.slot WHEN 0 THEN r.value END),
                max(CASE x.slot WHEN 1 THEN r.value END),
                max(CASE x.slot WHEN 2 THEN r.value END),
                max(CASE x.slot WHEN 3 THEN r.value END),
                max(CASE x.slot WHEN 4 THEN r.value END),
                max(CASE x.slot WHEN 5 THEN r.value END),
                max(CASE x.slot WHEN 6 THEN r.value END),
                max(CASE x.slot WHEN 7 THEN r.value END)
            FROM raw r JOIN series_slots x ON x.series_id = r.series_id WHERE x.slot IS NOT NULL
            GROUP BY r.minute, x.source_id, r.ms ORDER BY 1, 2, 3;
        INSERT INTO minutes
            SELECT x.source_id, r.minute / 60000,
                max(CASE x.slot WHEN 0 THEN r.lo END), max(CASE x.slot WHEN 0 THEN r.hi END), coalesce(max(CASE x.slot WHEN 0 THEN r.total END), 0), coalesce(max(CASE x.slot WHEN 0 THEN r.n END), 0),
                max(CASE x.slot WHEN 1 THEN r.lo END), max(CASE x.slot WHEN 1 THEN r.hi END), coalesce(max(CASE x.slot WHEN 1 THEN r.total END), 0), coalesce(max(CASE x.slot WHEN 1 THEN r.n END), 0),
                max(CASE x.slot WHEN 2 THEN r.lo END), max(CASE x.slot WHEN 2 THEN r.hi END), coalesce(max(CASE x.slot WHEN 2 THEN r.total END), 0), coalesce(max(CASE x.slot WHEN 2 THEN r.n END), 0),
                max(CASE x.slot WHEN 3 THEN r.lo END), max(CASE x.slot WHEN 3 THEN r.hi END), coalesce(max(CASE x.slot WHEN 3 THEN r.total END), 0), coalesce(max(CASE x.slot WHEN 3 THEN r.n END), 0),
                max(CASE x.slot WHEN 4 THEN r.lo END), max(CASE x.slot WHEN 4 THEN r.hi END), coalesce(max(CASE x.slot WHEN 4 THEN r.total END), 0), coalesce(max(CASE x.slot WHEN 4 THEN r.n END), 0),
                max(CASE x.slot WHEN 5 THEN r.lo END), max(CASE x.slot WHEN 5 THEN r.hi END), coalesce(max(CASE x.slot WHEN 5 THEN r.total END), 0), coalesce(max(CASE x.slot WHEN 5 THEN r.n END), 0),
                max(CASE x.slot WHEN 6 THEN r.lo END), max(CASE x.slot WHEN 6 THEN r.hi END), coalesce(max(CASE x.slot WHEN 6 THEN r.total END), 0), coalesce(max(CASE x.slot WHEN 6 THEN r.n END), 0),
                max(CASE x.slot WHEN 7 THEN r.lo END), max(CASE x.slot WHEN 7 THEN r.hi END), coalesce(max(CASE x.slot WHEN 7 THEN r.total END), 0), coalesce(max(CASE x.slot WHEN 7 THEN r.n END), 0)
            FROM rollup r JOIN series_slots x ON x.series_id = r.series_id WHERE x.slot IS NOT NULL
            GROUP BY x.source_id, r.minute ORDER BY 1, 2;
        DROP TABLE series_slots;
        DROP TABLE raw;
        DROP TABLE rollup;
        DROP TABLE series;
        """,
    ];
}
