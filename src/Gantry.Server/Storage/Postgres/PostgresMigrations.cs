namespace Gantry.Server.Storage.Postgres;

/// <summary>
/// The schema in PostgreSQL, one script per version, numbered as <see cref="Sqlite.SqliteMigrations"/>
/// is so that a change lands as the same version in both. The version is kept in <c>schema_version</c>
/// (one row); pending scripts are applied at open in one transaction that first takes
/// <see cref="LockKey"/>, so replicas starting together apply them once. Never edit a script that has
/// shipped: add the next one.
/// </summary>
/// <remarks>
/// The tables and columns are SQLite's, with PostgreSQL's types: times are <c>bigint</c> Unix
/// milliseconds, flags are <c>boolean</c>, JSON values are <c>text</c> (read whole, never queried),
/// auto-numbered keys are identity columns. Output (<c>logs.data</c>) is <c>bytea</c> holding UTF-8:
/// <c>text</c> cannot hold a NUL character, and a process may write one.
/// </remarks>
internal static class PostgresMigrations
{
    /// <summary>The transaction-scoped advisory lock that serialises migrations ("gantry" and 1, as hex).</summary>
    public const long LockKey = 0x67616E7472790001;

    /// <summary>Creates the version table where it is missing; run after the lock is taken.</summary>
    public const string VersionTable = """
        CREATE TABLE IF NOT EXISTS schema_version (
            id boolean PRIMARY KEY DEFAULT true CHECK (id),
            version integer NOT NULL)
        """;

    public static readonly string[] Scripts =
    [
        // 1: nodes, jobs with attempts and transitions, logs, hashed tokens.
        """
        CREATE TABLE tokens (
            kind text PRIMARY KEY,
            hash bytea NOT NULL,
            created_at bigint NOT NULL);
        CREATE TABLE nodes (
            id text PRIMARY KEY,
            name text NOT NULL,
            os text NOT NULL,
            architecture text NOT NULL,
            cpu_cores integer NOT NULL,
            memory_bytes bigint NOT NULL,
            labels text NOT NULL,
            gpus text NOT NULL,
            drain boolean NOT NULL DEFAULT false,
            credential_hash bytea NOT NULL,
            registered_at bigint NOT NULL,
            last_heartbeat_at bigint NOT NULL,
            agent_version text,
            agent_url text);
        CREATE TABLE jobs (
            id bigint PRIMARY KEY,
            spec text NOT NULL,
            array_index integer,
            state text NOT NULL,
            reason text,
            cancel_requested boolean NOT NULL DEFAULT false,
            submitted_at bigint NOT NULL,
            queued_at bigint NOT NULL,
            started_at bigint,
            ended_at bigint,
            exit_code integer,
            retries_used integer NOT NULL DEFAULT 0);
        CREATE INDEX jobs_state ON jobs (state);
        CREATE TABLE attempts (
            job_id bigint NOT NULL REFERENCES jobs (id),
            attempt integer NOT NULL,
            epoch bigint NOT NULL UNIQUE,
            node_id text NOT NULL,
            gpus text NOT NULL,
            gpu_uuids text NOT NULL,
            cpus integer NOT NULL,
            memory_bytes bigint NOT NULL,
            state text NOT NULL,
            assigned_at bigint NOT NULL,
            started_at bigint,
            ended_at bigint,
            exit_code integer,
            signal text,
            reason text,
            ended_by_agent boolean NOT NULL DEFAULT false,
            PRIMARY KEY (job_id, attempt));
        CREATE TABLE transitions (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            job_id bigint NOT NULL REFERENCES jobs (id),
            time bigint NOT NULL,
            from_state text,
            to_state text NOT NULL,
            reason text NOT NULL);
        CREATE INDEX transitions_job ON transitions (job_id, id);
        CREATE TABLE logs (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            job_id bigint NOT NULL REFERENCES jobs (id),
            attempt integer NOT NULL,
            stream text NOT NULL,
            "offset" bigint NOT NULL,
            data bytea NOT NULL,
            UNIQUE (job_id, attempt, stream, "offset"));
        CREATE INDEX logs_job ON logs (job_id, seq);
        """,

        // 2: a job array is one record until its tasks start; ended jobs are purged by age (the
        // counters keep ids and epochs rising after the newest rows are purged).
        """
        CREATE TABLE arrays (
            first_job_id bigint PRIMARY KEY,
            start_index integer NOT NULL,
            end_index integer NOT NULL,
            spec text NOT NULL,
            submitted_at bigint NOT NULL,
            complete boolean NOT NULL DEFAULT false);
        CREATE INDEX arrays_open ON arrays (complete, first_job_id);
        CREATE INDEX jobs_ended ON jobs (ended_at) WHERE ended_at IS NOT NULL;
        CREATE TABLE counters (
            name text PRIMARY KEY,
            value bigint NOT NULL);
        """,

        // 3: GPU health: each GPU's (and, as gpu -1, the node's) state when it is not plain healthy,
        // and the history of changes with their cause and evidence.
        """
        CREATE TABLE gpu_health (
            node_id text NOT NULL,
            gpu integer NOT NULL,
            state text NOT NULL,
            cause text,
            since bigint,
            until text,
            manual boolean NOT NULL DEFAULT false,
            detail text,
            PRIMARY KEY (node_id, gpu));
        CREATE TABLE health_events (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            node_id text NOT NULL,
            gpu integer,
            time bigint NOT NULL,
            change text NOT NULL,
            cause text NOT NULL,
            evidence text,
            actor text NOT NULL,
            job_id bigint);
        CREATE INDEX health_events_node ON health_events (node_id, id);
        """,

        // 4: alerting: rule groups added through the API, silences and undelivered notifications,
        // each a JSON document under its kind and id (few, and read whole at start).
        """
        CREATE TABLE alert_documents (
            kind text NOT NULL,
            id text NOT NULL,
            body text NOT NULL,
            updated_at bigint NOT NULL,
            PRIMARY KEY (kind, id));
        """,

        // 5: job energy: each attempt's figures (live ones written every --energy-write-interval, final
        // ones at its end), and the attempts by end for the energy report.
        """
        ALTER TABLE attempts ADD COLUMN energy_gpu_joules double precision;
        ALTER TABLE attempts ADD COLUMN energy_cpu_joules double precision;
        ALTER TABLE attempts ADD COLUMN energy_gpu_avg_watts double precision;
        ALTER TABLE attempts ADD COLUMN energy_gpu_peak_watts double precision;
        ALTER TABLE attempts ADD COLUMN energy_co2_grams double precision;
        ALTER TABLE attempts ADD COLUMN energy_estimated boolean;
        ALTER TABLE attempts ADD COLUMN energy_measured_at bigint;
        CREATE INDEX attempts_ended ON attempts (ended_at);
        """,

        // 6: power saving: each node's place in the suspend/resume cycle and the energy its suspensions
        // saved, so that a suspended or resuming node stays so across a restart or a failover.
        """
        CREATE TABLE node_power (
            node_id text PRIMARY KEY,
            mode text NOT NULL,
            since bigint,
            resume_deadline bigint,
            suspended_watts double precision NOT NULL,
            saved_joules double precision NOT NULL,
            last_event text,
            down_reason text);
        """,

        // 7: carbon-aware deferral: a held job's plan (start, location, the window's intensity), so that
        // it stays held across a restart or a failover; the location stays once it is released (its pin).
        """
        ALTER TABLE jobs ADD COLUMN planned_start bigint;
        ALTER TABLE jobs ADD COLUMN planned_location text;
        ALTER TABLE jobs ADD COLUMN planned_grams_per_kwh double precision;
        """,

        // 8: an attempt's energy from simulated GPUs is labelled so (--simulate-gpus), wherever it is shown.
        """
        ALTER TABLE attempts ADD COLUMN energy_simulated boolean;
        """,

        // 9: people: an API token per person (hashed, with its role, Unix user, limits, expiry and
        // revocation), and each job's and array's owner with the Unix user it runs as.
        """
        CREATE TABLE people (
            name text PRIMARY KEY,
            hash bytea NOT NULL UNIQUE,
            role text NOT NULL,
            unix_user text,
            allow_root boolean NOT NULL DEFAULT false,
            max_gpus integer,
            max_pending integer,
            created_at bigint NOT NULL,
            expires_at bigint,
            revoked_at bigint);
        ALTER TABLE jobs ADD COLUMN owner text;
        ALTER TABLE jobs ADD COLUMN run_as_user text;
        ALTER TABLE jobs ADD COLUMN allow_root boolean NOT NULL DEFAULT false;
        CREATE INDEX jobs_owner ON jobs (owner, id);
        ALTER TABLE arrays ADD COLUMN owner text;
        ALTER TABLE arrays ADD COLUMN run_as_user text;
        ALTER TABLE arrays ADD COLUMN allow_root boolean NOT NULL DEFAULT false;
        """,
        // 10: the audit log of changes made through the API (docs/audit.md).
        Audit.AuditSchema.Postgres,
        // 11: fair share: each account's decayed GPU-seconds as of its last attempt start or end, so that
        // the share survives a restart or a failover (docs/fair-share.md). Self-contained: renumber freely.
        """
        CREATE TABLE account_usage (
            account text PRIMARY KEY,
            gpu_seconds double precision NOT NULL,
            as_of bigint NOT NULL);
        """,
        // 12: container jobs: the container runtimes each node's agent found, with versions, as JSON
        // (docs/containers-jobs.md); NULL for none. Self-contained: renumber freely.
        """
        ALTER TABLE nodes ADD COLUMN container_runtimes text;
        """,
        // 13: services (docs/services.md): a job's kind ('service'; null for a batch job), so that
        // ?kind=service lists them through an index. Self-contained: renumber freely.
        """
        ALTER TABLE jobs ADD COLUMN kind text;
        CREATE INDEX jobs_kind ON jobs (kind, id);
        """,
    ];
}
