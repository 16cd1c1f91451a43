"""The database schema, as numbered migrations applied at master start.

Each migration runs once, in order, inside one transaction holding an advisory lock, so
several master replicas starting together migrate exactly once.
"""

from __future__ import annotations

from dccf.db import Connection

_MIGRATION_LOCK = 0x0DCCF001

MIGRATIONS: list[str] = [
    # 1: jobs, their files (inputs and outputs, chunked) and logs.
    """
    CREATE TABLE jobs (
        id               bigserial PRIMARY KEY,
        principal        text NOT NULL DEFAULT '',
        name             text,
        status           text NOT NULL DEFAULT 'queued'
                         CHECK (status IN ('queued','running','succeeded','failed','cancelled')),
        reason           text,
        exit_code        integer,
        attempt          integer NOT NULL DEFAULT 0,
        worker           text,
        lease_until      timestamptz,
        cancel_requested boolean NOT NULL DEFAULT false,
        timeout_seconds  integer NOT NULL,
        memory_mb        integer NOT NULL,
        cpus             double precision NOT NULL,
        network          text NOT NULL,
        callback_url     text,
        build_args       text NOT NULL DEFAULT '{}',
        idempotency_key  text,
        created_at       timestamptz NOT NULL DEFAULT now(),
        queued_at        timestamptz NOT NULL DEFAULT now(),
        started_at       timestamptz,
        finished_at      timestamptz
    );
    CREATE INDEX jobs_principal_id ON jobs (principal, id DESC);
    CREATE INDEX jobs_active ON jobs (status, queued_at) WHERE status IN ('queued', 'running');
    CREATE UNIQUE INDEX jobs_idempotency ON jobs (principal, idempotency_key)
        WHERE idempotency_key IS NOT NULL;

    CREATE TABLE files (
        id      bigserial PRIMARY KEY,
        job_id  bigint NOT NULL REFERENCES jobs ON DELETE CASCADE,
        kind    text NOT NULL CHECK (kind IN ('context', 'output')),
        path    text NOT NULL,
        size    bigint NOT NULL,
        sha256  text NOT NULL,
        UNIQUE (job_id, kind, path)
    );
    CREATE TABLE file_chunks (
        file_id bigint NOT NULL REFERENCES files ON DELETE CASCADE,
        seq     integer NOT NULL,
        data    bytea NOT NULL,
        PRIMARY KEY (file_id, seq)
    );
    -- Build contexts and outputs are mostly compressed or small; TOAST compression costs
    -- CPU on every write and rarely saves space.
    ALTER TABLE file_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

    CREATE TABLE job_logs (
        job_id  bigint NOT NULL REFERENCES jobs ON DELETE CASCADE,
        stream  text NOT NULL CHECK (stream IN ('build', 'stdout', 'stderr')),
        data    bytea NOT NULL,
        dropped bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (job_id, stream)
    );

    -- Every status change wakes the masters' long-polls (GET /v1/jobs/{id}?wait=N).
    CREATE FUNCTION dccf_notify_status() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('dccf_job_status', NEW.id::text);
        RETURN NULL;
    END $$;
    CREATE TRIGGER jobs_status_changed AFTER UPDATE OF status ON jobs FOR EACH ROW
        WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION dccf_notify_status();
    """,
    # 2: when a queued job's notice was last sent, so the sweeper can send it again.
    """
    ALTER TABLE jobs ADD COLUMN published_at timestamptz NOT NULL DEFAULT now();
    CREATE INDEX jobs_queued_published ON jobs (published_at) WHERE status = 'queued';
    """,
    # 3: the webhook outbox. A row per status change of a job with a callback_url, written by
    # the changing transaction itself, holding the job as it was then; the masters' dispatchers
    # deliver the rows and keep the outcome. Deleting a job deletes its events with it.
    """
    CREATE TABLE webhook_deliveries (
        id              bigserial PRIMARY KEY,
        job_id          bigint NOT NULL REFERENCES jobs ON DELETE CASCADE,
        delivery_id     uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
        callback_url    text NOT NULL,
        job             jsonb NOT NULL,
        state           text NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'delivered', 'given_up')),
        attempts        integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        last_attempt_at timestamptz,
        last_status     integer,
        last_error      text,
        created_at      timestamptz NOT NULL DEFAULT now(),
        done_at         timestamptz
    );
    CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (job_id, id)
        WHERE state = 'pending';
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
        WHERE state = 'pending';
    CREATE INDEX webhook_deliveries_done ON webhook_deliveries (done_at)
        WHERE state <> 'pending';

    CREATE FUNCTION dccf_webhook_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO webhook_deliveries (job_id, callback_url, job)
            VALUES (NEW.id, NEW.callback_url, to_jsonb(NEW));
        PERFORM pg_notify('dccf_webhook', '');
        RETURN NULL;
    END $$;
    CREATE TRIGGER jobs_webhook_outbox AFTER UPDATE OF status ON jobs FOR EACH ROW
        WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.callback_url IS NOT NULL)
        EXECUTE FUNCTION dccf_webhook_outbox();
    """,
    # 4: dispatch. A worker with a free slot takes the best queued job itself: the highest
    # priority first; within a priority the principal served longest ago (round-robin between
    # principals with queued work, so one principal's thousand jobs do not starve another's
    # one); within a principal the oldest. Kafka notices only wake workers up.
    """
    ALTER TABLE jobs ADD COLUMN priority smallint NOT NULL DEFAULT 0
        CHECK (priority BETWEEN -100 AND 100);
    CREATE INDEX jobs_queue ON jobs (priority, principal, id) WHERE status = 'queued';

    -- When each principal last had a job of theirs claimed.
    CREATE TABLE queue_turns (
        principal text PRIMARY KEY,
        served_at timestamptz NOT NULL
    );

    -- Claims the best queued job for a worker, or returns no row. Lanes are the
    -- (priority, principal) pairs that have queued jobs, found by a loose index scan (one index
    -- probe per lane, however long the queue); a lane whose jobs are all being claimed by
    -- other workers right now is skipped (SKIP LOCKED), not waited for.
    CREATE FUNCTION dccf_claim(p_worker text, p_lease_seconds double precision)
    RETURNS SETOF jobs LANGUAGE plpgsql AS $$
    DECLARE
        lane record;
        claimed jobs;
    BEGIN
        FOR lane IN
            WITH RECURSIVE lanes(priority, principal) AS (
                (SELECT j.priority, j.principal FROM jobs j WHERE j.status = 'queued'
                 ORDER BY j.priority DESC, j.principal DESC LIMIT 1)
                UNION ALL
                SELECT next.priority, next.principal FROM lanes l CROSS JOIN LATERAL (
                    SELECT j.priority, j.principal FROM jobs j
                    WHERE j.status = 'queued'
                        AND (j.priority, j.principal) < (l.priority, l.principal)
                    ORDER BY j.priority DESC, j.principal DESC LIMIT 1) next
            )
            SELECT l.priority, l.principal FROM lanes l
            LEFT JOIN queue_turns t ON t.principal = l.principal
            ORDER BY l.priority DESC, t.served_at ASC NULLS FIRST, l.principal
        LOOP
            UPDATE jobs SET status = 'running', attempt = attempt + 1, worker = p_worker,
                lease_until = now() + make_interval(secs => p_lease_seconds),
                started_at = now()
            WHERE id = (
                SELECT j.id FROM jobs j
                WHERE j.status = 'queued' AND j.priority = lane.priority
                    AND j.principal = lane.principal
                ORDER BY j.id LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING * INTO claimed;
            IF FOUND THEN
                INSERT INTO queue_turns (principal, served_at)
                    VALUES (claimed.principal, clock_timestamp())
                    ON CONFLICT (principal) DO UPDATE SET served_at = EXCLUDED.served_at;
                -- A new attempt starts with empty logs.
                DELETE FROM job_logs WHERE job_id = claimed.id;
                RETURN NEXT claimed;
                RETURN;
            END IF;
        END LOOP;
    END $$;
    """,
    # 5: the workers registry (dccf/workers.py), and indexes for the dashboard's per-principal
    # numbers: what runs where, and what started or finished in the last hour.
    """
    CREATE TABLE workers (
        id          text PRIMARY KEY,
        host        text NOT NULL,
        version     text NOT NULL,
        slots       integer NOT NULL,
        started_at  timestamptz NOT NULL,
        last_seen   timestamptz NOT NULL DEFAULT now(),
        stopped_at  timestamptz
    );
    CREATE INDEX workers_last_seen ON workers (last_seen);
    CREATE INDEX jobs_running_worker ON jobs (worker) WHERE status = 'running';
    CREATE INDEX jobs_principal_active ON jobs (principal, status, queued_at)
        WHERE status IN ('queued', 'running');
    CREATE INDEX jobs_principal_finished ON jobs (principal, finished_at)
        WHERE finished_at IS NOT NULL;
    CREATE INDEX jobs_principal_started ON jobs (principal, started_at)
        WHERE started_at IS NOT NULL;
    """,
]


def version(conn: Connection) -> int:
    """The version the database is at; 0 before the first migration."""
    if conn.run("SELECT to_regclass('schema_migrations')")[0][0] is None:
        return 0
    return int(conn.run("SELECT coalesce(max(version), 0) FROM schema_migrations")[0][0])


def current(conn: Connection) -> bool:
    """Whether the database has every migration this code needs (the master applies them)."""
    return version(conn) >= len(MIGRATIONS)


def migrate(conn: Connection) -> int:
    """Bring the schema up to date; returns the version now in force."""
    conn.run("BEGIN")
    try:
        conn.run("SELECT pg_advisory_xact_lock(:key)", key=_MIGRATION_LOCK)
        conn.run(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        rows = conn.run("SELECT coalesce(max(version), 0) FROM schema_migrations")
        current = int(rows[0][0])
        for version, sql in enumerate(MIGRATIONS, start=1):
            if version <= current:
                continue
            # Without parameters pg8000 sends the simple query protocol, which runs every
            # statement of the migration in one round trip.
            conn.run(sql)
            conn.run("INSERT INTO schema_migrations (version) VALUES (:v)", v=version)
        conn.run("COMMIT")
    except BaseException:
        conn.run("ROLLBACK")
        raise
    return len(MIGRATIONS)
