using Microsoft.Data.Sqlite;

namespace Mmrag.Storage.Embedded.Sql;

/// <summary>
/// The database schema as numbered migrations. <c>schema_version</c> holds the version reached; opening applies the
/// missing migrations in one write transaction, and refuses a database made by a newer build.
/// </summary>
internal static class StoreSchema
{
    /// <summary>Migration i brings the schema from version i to version i + 1.</summary>
    private static readonly string[][] s_migrations =
    [
        [
            """
            CREATE TABLE kb_info(
                id          INTEGER PRIMARY KEY CHECK (id = 1),
                uid         TEXT    NOT NULL,
                model_id    TEXT    NOT NULL,
                dimension   INTEGER NOT NULL CHECK (dimension > 0),
                created_at  TEXT    NOT NULL,
                generation  INTEGER NOT NULL DEFAULT 0)
            """,
            """
            CREATE TABLE documents(
                id            TEXT    PRIMARY KEY,
                source_path   TEXT    NOT NULL UNIQUE,
                content_hash  TEXT    NOT NULL,
                media_type    TEXT    NOT NULL,
                title         TEXT,
                item_count    INTEGER NOT NULL,
                ingested_at   TEXT    NOT NULL,
                tags          TEXT    NOT NULL DEFAULT '[]')
            """,
            // AUTOINCREMENT: a rowid is never reused, so a reader holding an older index snapshot can never fetch a
            // newer item under an old rowid, and rows added by another process are exactly those above the last seen.
            """
            CREATE TABLE items(
                rowid         INTEGER PRIMARY KEY AUTOINCREMENT,
                id            TEXT    NOT NULL UNIQUE,
                document_id   TEXT    NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
                kind          TEXT    NOT NULL,
                content_hash  TEXT    NOT NULL,
                text          TEXT    NOT NULL,
                description   TEXT,
                image_path    TEXT,
                source_path   TEXT    NOT NULL,
                title         TEXT,
                page          INTEGER,
                section       TEXT,
                caption       TEXT,
                position      INTEGER NOT NULL,
                tags          TEXT    NOT NULL DEFAULT '[]',
                vector        BLOB    NOT NULL)
            """,
            "CREATE INDEX ix_items_document ON items(document_id)",
            "CREATE INDEX ix_items_content_hash ON items(content_hash)",
            "CREATE INDEX ix_items_source_path ON items(source_path)",
            "CREATE INDEX ix_items_kind ON items(kind)",
            // External-content FTS5 over the item columns, kept in step by triggers inside the writing transaction.
            """
            CREATE VIRTUAL TABLE items_fts USING fts5(
                text, description, caption, section, title,
                content = 'items', content_rowid = 'rowid',
                tokenize = 'porter unicode61 remove_diacritics 2')
            """,
            """
            CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN
                INSERT INTO items_fts(rowid, text, description, caption, section, title)
                VALUES (new.rowid, new.text, new.description, new.caption, new.section, new.title);
            END
            """,
            """
            CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN
                INSERT INTO items_fts(items_fts, rowid, text, description, caption, section, title)
                VALUES ('delete', old.rowid, old.text, old.description, old.caption, old.section, old.title);
            END
            """,
            """
            CREATE TRIGGER items_fts_update AFTER UPDATE ON items BEGIN
                INSERT INTO items_fts(items_fts, rowid, text, description, caption, section, title)
                VALUES ('delete', old.rowid, old.text, old.description, old.caption, old.section, old.title);
                INSERT INTO items_fts(rowid, text, description, caption, section, title)
                VALUES (new.rowid, new.text, new.description, new.caption, new.section, new.title);
            END
            """,
            """
            CREATE TABLE failures(
                id           INTEGER PRIMARY KEY AUTOINCREMENT,
                source_path  TEXT NOT NULL,
                reason       TEXT NOT NULL,
                detail       TEXT,
                at           TEXT NOT NULL)
            """,
            "CREATE INDEX ix_failures_source_path ON failures(source_path)",
            "CREATE INDEX ix_failures_at ON failures(at)",
            "CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            """
            CREATE TABLE jobs(
                id           INTEGER PRIMARY KEY AUTOINCREMENT,
                started_at   TEXT NOT NULL,
                finished_at  TEXT,
                state        TEXT NOT NULL,
                summary      TEXT)
            """,
        ],
        [
            // Ingestion work claims (IIngestionWorkClaims): one row per document, the version being (or last) ingested.
            // host and pid name the process whose store wrote the claim, so that a claim left by a killed ingester on
            // this machine is free at once instead of after its lease. No foreign key: a document is claimed before it
            // exists, and a completed claim outlives its document's deletion (which makes it work again).
            """
            CREATE TABLE ingestion_claims(
                document_id   TEXT    PRIMARY KEY,
                content_hash  TEXT    NOT NULL,
                owner         TEXT    NOT NULL,
                host          TEXT    NOT NULL,
                pid           INTEGER NOT NULL,
                claimed_at    TEXT    NOT NULL,
                expires_at    TEXT    NOT NULL,
                completed_at  TEXT)
            """,
        ],
        [
            // Relevance feedback (IRelevanceFeedbackStore): the query vector as a float32 little-endian BLOB like items'.
            // seq orders judgements made in the same tick. No foreign key to items: a judgement outlives its item (readers
            // skip it), and a re-ingest that replaces an item with the same id keeps its judgements.
            """
            CREATE TABLE relevance_feedback(
                seq           INTEGER PRIMARY KEY AUTOINCREMENT,
                id            TEXT    NOT NULL UNIQUE,
                modality      TEXT    NOT NULL CHECK (modality IN ('text', 'image')),
                query_text    TEXT,
                query_image   TEXT,
                query_vector  BLOB    NOT NULL,
                item_id       TEXT    NOT NULL,
                relevant      INTEGER NOT NULL CHECK (relevant IN (0, 1)),
                model_id      TEXT    NOT NULL,
                source        TEXT    NOT NULL,
                created_at    TEXT    NOT NULL)
            """,
            "CREATE INDEX ix_relevance_feedback_model ON relevance_feedback(model_id, created_at)",
        ],
        [
            // Everything the in-memory index needs of an item but its vector: opening a large knowledge base whose graph
            // file is current reads this (about 200 bytes a row) instead of scanning the items table (2 KB of vector a
            // row at 512 dimensions). It starts with kind, so it also serves what ix_items_kind did.
            "CREATE INDEX IF NOT EXISTS ix_items_metadata ON items(kind, document_id, source_path, content_hash, tags)",
            "DROP INDEX IF EXISTS ix_items_kind",
        ],
    ];

    /// <summary>The version this build creates and understands.</summary>
    public static int CurrentVersion => s_migrations.Length;

    /// <summary>Creates or upgrades the schema; returns the version found before (0 for a new database).</summary>
    /// <exception cref="KnowledgeStoreException">The database was made by a newer build.</exception>
    public static int Migrate(SqliteConnection connection, string backend)
    {
        using SqliteTransaction tx = connection.BeginTransaction(deferred: false);
        Execute(connection, tx, "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)");
        object? found = Scalar(connection, tx, "SELECT max(version) FROM schema_version");
        int version = found is long v ? (int)v : 0;
        if (version > CurrentVersion)
        {
            throw new KnowledgeStoreException(
                $"{backend}: the database has schema version {version}, newer than this build understands ({CurrentVersion}); update mmrag.");
        }

        for (int m = version; m < CurrentVersion; m++)
        {
            foreach (string sql in s_migrations[m])
            {
                Execute(connection, tx, sql);
            }
        }

        if (version != CurrentVersion)
        {
            Execute(connection, tx, "DELETE FROM schema_version");
            using SqliteCommand set = connection.CreateCommand();
            set.Transaction = tx;
            set.CommandText = "INSERT INTO schema_version(version) VALUES ($v)";
            set.Parameters.AddWithValue("$v", CurrentVersion);
            set.ExecuteNonQuery();
        }

        tx.Commit();
        return version;
    }

    private static void Execute(SqliteConnection connection, SqliteTransaction tx, string sql)
    {
        using SqliteCommand command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, SqliteTransaction tx, string sql)
    {
        using SqliteCommand command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        return command.ExecuteScalar();
    }
}
