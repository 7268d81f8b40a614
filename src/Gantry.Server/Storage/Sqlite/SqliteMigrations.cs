namespace Gantry.Server.Storage.Sqlite;

/// <summary>
/// The schema, one script per version. A database at version N gets scripts N+1… applied at start,
/// each in its own transaction, and <c>PRAGMA user_version</c> records how far it got. Never edit a
/// script that has shipped: add the next one.
/// </summary>
internal static class SqliteMigrations
{
    public static readonly string[] Scripts =
    [
        // 1: nodes, jobs with attempts and transitions, logs, hashed tokens.
        """
        CREATE TABLE tokens (
            kind TEXT PRIMARY KEY,
            hash BLOB NOT NULL,
            created_at INTEGER NOT NULL);
        CREATE TABLE nodes (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            os TEXT NOT NULL,
            architecture TEXT NOT NULL,
            cpu_cores INTEGER NOT NULL,
            memory_bytes INTEGER NOT NULL,
            labels TEXT NOT NULL,
            gpus TEXT NOT NULL,
            drain INTEGER NOT NULL DEFAULT 0,
            credential_hash BLOB NOT NULL,
            registered_at INTEGER NOT NULL,
            last_heartbeat_at INTEGER NOT NULL,
            agent_version TEXT,
            agent_url TEXT);
        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY,
            spec TEXT NOT NULL,
            array_index INTEGER,
            state TEXT NOT NULL,
            reason TEXT,
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            submitted_at INTEGER NOT NULL,
            queued_at INTEGER NOT NULL,
            started_at INTEGER,
            ended_at INTEGER,
            exit_code INTEGER,
            retries_used INTEGER NOT NULL DEFAULT 0);
        CREATE INDEX jobs_state ON jobs(state);
        CREATE TABLE attempts (
            job_id INTEGER NOT NULL REFERENCES jobs(id),
            attempt INTEGER NOT NULL,
            epoch INTEGER NOT NULL UNIQUE,
            node_id TEXT NOT NULL,
            gpus TEXT NOT NULL,
            gpu_uuids TEXT NOT NULL,
            cpus INTEGER NOT NULL,
            memory_bytes INTEGER NOT NULL,
            state TEXT NOT NULL,
            assigned_at INTEGER NOT NULL,
            started_at INTEGER,
            ended_at INTEGER,
            exit_code INTEGER,
            signal TEXT,
            reason TEXT,
            ended_by_agent INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (job_id, attempt));
        CREATE TABLE transitions (
            id INTEGER PRIMARY KEY,
            job_id INTEGER NOT NULL REFERENCES jobs(id),
            time INTEGER NOT NULL,
            from_state TEXT,
            to_state TEXT NOT NULL,
            reason TEXT NOT NULL);
        CREATE INDEX transitions_job ON transitions(job_id, id);
        CREATE TABLE logs (
            seq INTEGER PRIMARY KEY,
            job_id INTEGER NOT NULL REFERENCES jobs(id),
            attempt INTEGER NOT NULL,
            stream TEXT NOT NULL,
            offset INTEGER NOT NULL,
            data TEXT NOT NULL,
            UNIQUE (job_id, attempt, stream, offset));
        CREATE INDEX logs_job ON logs(job_id, seq);
        """,

        // 2: a job array is one record until its tasks start; ended jobs are purged by age (the
        // counters keep ids and epochs rising after the newest rows are purged).
        """
        CREATE TABLE arrays (
            first_job_id INTEGER PRIMARY KEY,
            start_index INTEGER NOT NULL,
            end_index INTEGER NOT NULL,
            spec TEXT NOT NULL,
            submitted_at INTEGER NOT NULL,
            complete INTEGER NOT NULL DEFAULT 0);
        CREATE INDEX arrays_open ON arrays(complete, first_job_id);
        CREATE INDEX jobs_ended ON jobs(ended_at) WHERE ended_at IS NOT NULL;
        CREATE TABLE counters (
            name TEXT PRIMARY KEY,
            value INTEGER NOT NULL);
        """,

        // 3: GPU health: each GPU's (and, as gpu -1, the node's) state when it is not plain healthy,
        // and the history of changes with their cause and evidence.
        """
        CREATE TABLE gpu_health (
            node_id TEXT NOT NULL,
            gpu INTEGER NOT NULL,
            state TEXT NOT NULL,
            cause TEXT,
            since INTEGER,
            until TEXT,
            manual INTEGER NOT NULL DEFAULT 0,
            detail TEXT,
            PRIMARY KEY (node_id, gpu));
        CREATE TABLE health_events (
            id INTEGER PRIMARY KEY,
            node_id TEXT NOT NULL,
            gpu INTEGER,
            time INTEGER NOT NULL,
            change TEXT NOT NULL,
            cause TEXT NOT NULL,
            evidence TEXT,
            actor TEXT NOT NULL,
            job_id INTEGER);
        CREATE INDEX health_events_node ON health_events(node_id, id);
        """,

        // 4: alerting: rule groups added through the API, silences and undelivered notifications,
        // each a JSON document under its kind and id (few, and read whole at start).
        """
        CREATE TABLE alert_documents (
            kind TEXT NOT NULL,
            id TEXT NOT NULL,
            body TEXT NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (kind, id));
        """,

        // 5: job energy: each attempt's figures (live ones written every --energy-write-interval, final
        // ones at its end), and the attempts by end for the energy report.
        """
        ALTER TABLE attempts ADD COLUMN energy_gpu_joules REAL;
        ALTER TABLE attempts ADD COLUMN energy_cpu_joules REAL;
        ALTER TABLE attempts ADD COLUMN energy_gpu_avg_watts REAL;
        ALTER TABLE attempts ADD COLUMN energy_gpu_peak_watts REAL;
        ALTER TABLE attempts ADD COLUMN energy_co2_grams REAL;
        ALTER TABLE attempts ADD COLUMN energy_estimated INTEGER;
        ALTER TABLE attempts ADD COLUMN energy_measured_at INTEGER;
        CREATE INDEX attempts_ended ON attempts(ended_at);
        """,

        // 6: power saving: each node's place in the suspend/resume cycle and the energy its suspensions
        // saved, so that a suspended or resuming node stays so across a restart or a failover.
        """
        CREATE TABLE node_power (
            node_id TEXT PRIMARY KEY,
            mode TEXT NOT NULL,
            since INTEGER,
            resume_deadline INTEGER,
            suspended_watts REAL NOT NULL,
            saved_joules REAL NOT NULL,
            last_event TEXT,
            down_reason TEXT);
        """,

        // 7: carbon-aware deferral: a held job's plan (start, location, the window's intensity), so that
        // it stays held across a restart or a failover; the location stays once it is released (its pin).
        """
        ALTER TABLE jobs ADD COLUMN planned_start INTEGER;
        ALTER TABLE jobs ADD COLUMN planned_location TEXT;
        ALTER TABLE jobs ADD COLUMN planned_grams_per_kwh REAL;
        """,

        // 8: an attempt's energy from simulated GPUs is labelled so (--simulate-gpus), wherever it is shown.
        """
        ALTER TABLE attempts ADD COLUMN energy_simulated INTEGER;
        """,

        // 9: people: an API token per person (hashed, with its role, Unix user, limits, expiry and
        // revocation), and each job's and array's owner with the Unix user it runs as.
        """
        CREATE TABLE people (
            name TEXT PRIMARY KEY,
            hash BLOB NOT NULL UNIQUE,
            role TEXT NOT NULL,
            unix_user TEXT,
            allow_root INTEGER NOT NULL DEFAULT 0,
            max_gpus INTEGER,
            max_pending INTEGER,
            created_at INTEGER NOT NULL,
            expires_at INTEGER,
            revoked_at INTEGER);
        ALTER TABLE jobs ADD COLUMN owner TEXT;
        ALTER TABLE jobs ADD COLUMN run_as_user TEXT;
        ALTER TABLE jobs ADD COLUMN allow_root INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX jobs_owner ON jobs(owner, id);
        ALTER TABLE arrays ADD COLUMN owner TEXT;
        ALTER TABLE arrays ADD COLUMN run_as_user TEXT;
        ALTER TABLE arrays ADD COLUMN allow_root INTEGER NOT NULL DEFAULT 0;
        """,
        // 10: the audit log of changes made through the API (docs/audit.md).
        Audit.AuditSchema.Sqlite,
        // 11: fair share: each account's decayed GPU-seconds as of its last attempt start or end, so that
        // the share survives a restart or a failover (docs/fair-share.md). Self-contained: renumber freely.
        """
        CREATE TABLE account_usage (
            account TEXT PRIMARY KEY,
            gpu_seconds REAL NOT NULL,
            as_of INTEGER NOT NULL);
        """,
        // 12: container jobs: the container runtimes each node's agent found, with versions, as JSON
        // (docs/containers-jobs.md); NULL for none. Self-contained: renumber freely.
        """
        ALTER TABLE nodes ADD COLUMN container_runtimes TEXT;
        """,
        // 13: services (docs/services.md): a job's kind ('service'; null for a batch job), so that
        // ?kind=service lists them through an index. Self-contained: renumber freely.
        """
        ALTER TABLE jobs ADD COLUMN kind TEXT;
        CREATE INDEX jobs_kind ON jobs(kind, id);
        """,
    ];
}
