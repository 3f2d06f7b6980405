import Namespace

/// The schema, versioned with `PRAGMA user_version`; each migration runs once, in order, in
/// its own transaction.
enum Schema {
    static let migrations: [String] = [
        // 1: the first schema.
        """
        CREATE TABLE agents(
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            config TEXT NOT NULL,
            state TEXT NOT NULL,
            lifecycle TEXT NOT NULL,
            tick_count INTEGER NOT NULL DEFAULT 0,
            last_tick_at INTEGER,
            last_tick_cause TEXT,
            created_at INTEGER NOT NULL,
            queue_depth INTEGER NOT NULL DEFAULT 0,
            deadletter_count INTEGER NOT NULL DEFAULT 0,
            dropped_count INTEGER NOT NULL DEFAULT 0,
            budget_spent INTEGER NOT NULL DEFAULT 0,
            trace_bytes INTEGER NOT NULL DEFAULT 0,
            trajectory_bytes INTEGER NOT NULL DEFAULT 0,
            outbox_bytes INTEGER NOT NULL DEFAULT 0,
            version INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID;
        CREATE TABLE inbox(
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            agent TEXT NOT NULL,
            env_id TEXT NOT NULL,
            sender TEXT NOT NULL,
            kind TEXT NOT NULL,
            body TEXT NOT NULL,
            sent_at INTEGER NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            not_before INTEGER NOT NULL DEFAULT 0,
            last_error TEXT
        );
        CREATE INDEX inbox_agent ON inbox(agent, seq);
        CREATE TABLE seen(
            agent TEXT NOT NULL,
            env_id TEXT NOT NULL,
            at INTEGER NOT NULL,
            PRIMARY KEY(agent, env_id)
        );
        CREATE INDEX seen_at ON seen(agent, at);
        CREATE TABLE logs(
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            agent TEXT NOT NULL,
            log TEXT NOT NULL,
            offset INTEGER NOT NULL,
            len INTEGER NOT NULL,
            line TEXT NOT NULL
        );
        CREATE INDEX logs_agent ON logs(agent, log, seq);
        CREATE INDEX logs_offset ON logs(agent, log, offset);
        CREATE TABLE deadletter(
            agent TEXT NOT NULL,
            env_id TEXT NOT NULL,
            sender TEXT NOT NULL,
            kind TEXT NOT NULL,
            body TEXT NOT NULL,
            sent_at INTEGER NOT NULL,
            attempts INTEGER NOT NULL,
            reason TEXT NOT NULL,
            at INTEGER NOT NULL,
            PRIMARY KEY(agent, env_id)
        ) WITHOUT ROWID;
        CREATE TABLE goals(
            agent TEXT NOT NULL,
            goal_id TEXT NOT NULL,
            body TEXT NOT NULL,
            updated_at INTEGER NOT NULL,
            version INTEGER NOT NULL,
            PRIMARY KEY(agent, goal_id)
        ) WITHOUT ROWID;
        CREATE TABLE alarms(
            agent TEXT NOT NULL,
            alarm_id TEXT NOT NULL,
            due_at INTEGER NOT NULL,
            every_ms INTEGER,
            source TEXT NOT NULL,
            PRIMARY KEY(agent, alarm_id)
        ) WITHOUT ROWID;
        CREATE INDEX alarms_due ON alarms(due_at);
        CREATE TABLE identity(
            agent TEXT PRIMARY KEY,
            secret BLOB NOT NULL,
            pubkey TEXT NOT NULL
        ) WITHOUT ROWID;
        """,
        // 2: agent tokens, stored as SHA-256 hashes.
        """
        CREATE TABLE tokens(
            hash TEXT PRIMARY KEY,
            agent TEXT NOT NULL,
            created_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX tokens_agent ON tokens(agent);
        """,
        // 3: an agent's incarnation (never reused, so a tick of a deleted agent cannot commit into
        // a new one of the same id); the attempts of the alarm occurrence that is due, and the
        // time it was scheduled for (retries move `due_at`, the period counts from this).
        """
        CREATE TABLE counters(
            name TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO counters(name, value) VALUES('incarnation', 0);
        ALTER TABLE agents ADD COLUMN incarnation INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE alarms ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE alarms ADD COLUMN scheduled_at INTEGER NOT NULL DEFAULT 0;
        UPDATE alarms SET scheduled_at = due_at;
        """,
        // 4: compute. Policies per agent and service, the runtime's providers, one budget ledger
        // per agent and account, jobs with their token streams, and the idempotency journal.
        """
        CREATE TABLE policies(
            agent TEXT NOT NULL,
            service TEXT NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY(agent, service)
        ) WITHOUT ROWID;
        CREATE TABLE providers(
            name TEXT PRIMARY KEY,
            body TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE ledgers(
            agent TEXT NOT NULL,
            account TEXT NOT NULL,
            spent INTEGER NOT NULL DEFAULT 0,
            reserved INTEGER NOT NULL DEFAULT 0,
            day INTEGER NOT NULL DEFAULT 0,
            day_spent INTEGER NOT NULL DEFAULT 0,
            tick INTEGER NOT NULL DEFAULT 0,
            tick_spent INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY(agent, account)
        ) WITHOUT ROWID;
        CREATE TABLE jobs(
            id TEXT PRIMARY KEY,
            agent TEXT NOT NULL,
            account TEXT NOT NULL,
            state TEXT NOT NULL,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            request TEXT NOT NULL,
            reserved INTEGER NOT NULL,
            cost INTEGER,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            created_at INTEGER NOT NULL,
            started_at INTEGER,
            finished_at INTEGER,
            error TEXT,
            text TEXT,
            finish_reason TEXT,
            idem_key TEXT,
            stream_bytes INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID;
        CREATE INDEX jobs_agent ON jobs(agent, created_at);
        CREATE INDEX jobs_open ON jobs(agent) WHERE state IN ('queued', 'running');
        CREATE TABLE job_stream(
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            agent TEXT NOT NULL,
            job TEXT NOT NULL,
            offset INTEGER NOT NULL,
            line TEXT NOT NULL
        );
        CREATE INDEX job_stream_job ON job_stream(job, offset);
        CREATE INDEX job_stream_agent ON job_stream(agent);
        CREATE TABLE journal(
            agent TEXT NOT NULL,
            key TEXT NOT NULL,
            job TEXT NOT NULL,
            expires_at INTEGER NOT NULL,
            PRIMARY KEY(agent, key)
        ) WITHOUT ROWID;
        CREATE INDEX journal_expiry ON journal(expires_at);
        """,
        // 5: containers. Sessions (their files live on disk, under the sandbox provider's root),
        // execs, and the output of each exec and of each session (every exec's, in order).
        """
        CREATE TABLE sessions(
            id TEXT PRIMARY KEY,
            agent TEXT NOT NULL,
            provider TEXT NOT NULL,
            state TEXT NOT NULL,
            limits TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            last_used_at INTEGER NOT NULL,
            idle_ms INTEGER NOT NULL,
            ended_at INTEGER,
            error TEXT,
            execs INTEGER NOT NULL DEFAULT 0,
            cpu_ms INTEGER NOT NULL DEFAULT 0,
            cost INTEGER NOT NULL DEFAULT 0,
            output_bytes INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID;
        CREATE INDEX sessions_agent ON sessions(agent, created_at);
        CREATE INDEX sessions_live ON sessions(agent) WHERE state = 'running';
        CREATE TABLE execs(
            id TEXT PRIMARY KEY,
            agent TEXT NOT NULL,
            session TEXT NOT NULL,
            state TEXT NOT NULL,
            argv TEXT NOT NULL,
            limits TEXT NOT NULL,
            reserved INTEGER NOT NULL,
            cost INTEGER,
            started_at INTEGER NOT NULL,
            finished_at INTEGER,
            result TEXT,
            output_bytes INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID;
        CREATE INDEX execs_session ON execs(session, started_at);
        CREATE INDEX execs_agent ON execs(agent);
        CREATE INDEX execs_running ON execs(agent) WHERE state = 'running';
        CREATE TABLE exec_output(
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            agent TEXT NOT NULL,
            session TEXT NOT NULL,
            exec TEXT NOT NULL,
            offset INTEGER NOT NULL,
            line TEXT NOT NULL
        );
        CREATE INDEX exec_output_exec ON exec_output(exec, offset);
        CREATE INDEX exec_output_agent ON exec_output(agent);
        CREATE INDEX exec_output_session ON exec_output(session);
        CREATE TABLE session_output(
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            agent TEXT NOT NULL,
            session TEXT NOT NULL,
            offset INTEGER NOT NULL,
            line TEXT NOT NULL
        );
        CREATE INDEX session_output_session ON session_output(session, offset);
        CREATE INDEX session_output_agent ON session_output(agent);
        """,
        // 6: exec agents. The row keeps the program's metadata (status shows it; a write moves
        // the row's version); the bytes live apart so that reading a row never loads them.
        """
        ALTER TABLE agents ADD COLUMN program TEXT;
        CREATE TABLE programs(
            agent TEXT PRIMARY KEY,
            body BLOB NOT NULL
        ) WITHOUT ROWID;
        """,
        // 7: the few agents with envelopes waiting or dead-lettered, found without reading every
        // row (ten million agents are a gigabyte of rows): the scan for leftover work at start
        // and the metrics' totals read these partial indexes, empty when nothing waits.
        """
        CREATE INDEX agents_pending ON agents(queue_depth) WHERE queue_depth > 0;
        CREATE INDEX agents_deadletters ON agents(deadletter_count) WHERE deadletter_count > 0;
        """,
        // 8: the node's secrets, and a key salt per agent. New agents' keys are derived from the
        // secret called 'identity' (made with this migration, `made`), their incarnation and
        // their salt, so they have no identity row (90 bytes an agent); the rows that exist
        // (imported keys, agents made before) stay and win. One way: an agentd before this
        // one finds no identity row for an agent made after it.
        """
        ALTER TABLE agents ADD COLUMN key_salt BLOB;
        CREATE TABLE secrets(
            name TEXT PRIMARY KEY,
            value BLOB NOT NULL
        ) WITHOUT ROWID;
        """,
        // 9: one index on logs. Within one agent's log, byte offsets grow with record ids (every
        // append takes the next offset and the next id), so `logs_offset` orders a log as
        // `logs_agent` did: every query by record id now goes through the offset. One index
        // entry less for every line of every log (30 bytes an agent at creation).
        """
        DROP INDEX logs_agent;
        """,
    ]

    static var version: Int { migrations.count }

    /// What a migration makes that SQL cannot: schema 8's node identity secret, 32 bytes from
    /// the system's generator, in the migration's own transaction (so once, for good).
    static func made(_ version: Int, _ conn: SQLiteConnection) throws(FSError) {
        guard version == 8 else { return }
        var rng = SystemRandomNumberGenerator()
        let secret = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &rng) }
        try conn.query("INSERT INTO secrets(name, value) VALUES('identity', ?)", .blob(secret))
    }

    static func migrate(_ conn: SQLiteConnection) throws(FSError) {
        let current = Int(try conn.scalar("PRAGMA user_version")?.int ?? 0)
        guard current <= migrations.count else {
            throw FSError(.unavailable, "the database has schema version \(current), newer than this agentd (\(migrations.count)); upgrade agentd")
        }
        for v in current..<migrations.count {
            try conn.exec("BEGIN IMMEDIATE")
            do {
                try conn.exec(migrations[v])
                try made(v + 1, conn)
                try conn.exec("PRAGMA user_version=\(v + 1)")
                try conn.exec("COMMIT")
            } catch {
                try? conn.exec("ROLLBACK")
                throw error
            }
        }
    }
}
