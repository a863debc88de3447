using System.Text;
using Microsoft.Data.Sqlite;
using Mmrag.Knowledge;
using Mmrag.Storage.Embedded.Indexing;
using SQLitePCL;

namespace Mmrag.Storage.Embedded.Sql;

/// <summary>
/// Reads the rowid and in-memory metadata of every item from the covering index <c>ix_items_metadata</c>, through
/// SQLite's C API rather than a data reader: the reader makes a string of every text column of every row, and at a
/// million items those strings (then thrown away by the interner) were most of an index file's load. Here a value is
/// decoded only when it differs from the one in the row before; the index orders rows by kind, document and path,
/// so a document's rows share their strings without a lookup.
/// </summary>
internal sealed class MetadataScan : IDisposable
{
    private static readonly byte[] s_image = "image"u8.ToArray();
    private static readonly byte[] s_text = "text"u8.ToArray();
    private static readonly byte[] s_noTags = "[]"u8.ToArray();
    private readonly sqlite3 _database;
    private readonly sqlite3_stmt _statement;
    private readonly MetadataInterner _interner;
    private readonly Recent<string> _document = new();
    private readonly Recent<string> _path = new();
    private readonly Recent<string[]> _tags = new();

    public MetadataScan(SqliteConnection connection, MetadataInterner interner)
    {
        _database = connection.Handle ?? throw new InvalidOperationException("The connection is not open.");
        _interner = interner;
        int rc = raw.sqlite3_prepare_v2(_database,
            "SELECT rowid, kind, document_id, source_path, content_hash, tags FROM items INDEXED BY ix_items_metadata", out _statement);
        Check(rc);
    }

    /// <summary>The current row's rowid.</summary>
    public long RowId => raw.sqlite3_column_int64(_statement, 0);

    /// <summary>Moves to the next row; false after the last.</summary>
    public bool Next()
    {
        int rc = raw.sqlite3_step(_statement);
        if (rc == raw.SQLITE_ROW)
        {
            return true;
        }

        Check(rc == raw.SQLITE_DONE ? raw.SQLITE_OK : rc);
        return false;
    }

    /// <summary>The current row's metadata.</summary>
    public SlotMetadata Metadata()
    {
        ReadOnlySpan<byte> kind = raw.sqlite3_column_blob(_statement, 1);
        ItemKind parsed = kind.SequenceEqual(s_image) ? ItemKind.Image
            : kind.SequenceEqual(s_text) ? ItemKind.TextChunk
            : throw new InvalidDataException($"Unknown item kind '{Encoding.UTF8.GetString(kind)}' in the database.");
        string document = _document.Get(raw.sqlite3_column_blob(_statement, 2), _interner, static (bytes, interner) => interner.String(Encoding.UTF8.GetString(bytes)));
        string path = _path.Get(raw.sqlite3_column_blob(_statement, 3), _interner, static (bytes, interner) => interner.String(Encoding.UTF8.GetString(bytes)));
        ReadOnlySpan<byte> tagsJson = raw.sqlite3_column_blob(_statement, 5);
        string[] tags = tagsJson.SequenceEqual(s_noTags) ? []
            : _tags.Get(tagsJson, _interner, static (bytes, interner) => interner.TagsFromJson(Encoding.UTF8.GetString(bytes)));
        return new SlotMetadata(RowId, parsed, document, path, tags, ContentHashKey.Of(raw.sqlite3_column_blob(_statement, 4)));
    }

    public void Dispose() => _statement.Dispose();

    private void Check(int rc) => SqliteException.ThrowExceptionForRC(rc, _database);

    /// <summary>The last value decoded for a column, with the bytes it came from.</summary>
    private sealed class Recent<T>
        where T : class
    {
        private byte[] _bytes = new byte[256];
        private int _length = -1;
        private T? _value;

        public delegate T Decoder(ReadOnlySpan<byte> bytes, MetadataInterner interner);

        public T Get(ReadOnlySpan<byte> bytes, MetadataInterner interner, Decoder decode)
        {
            if (_value is not null && bytes.SequenceEqual(_bytes.AsSpan(0, _length)))
            {
                return _value;
            }

            if (bytes.Length > _bytes.Length)
            {
                _bytes = new byte[Math.Max(bytes.Length, _bytes.Length * 2)];
            }

            bytes.CopyTo(_bytes);
            _length = bytes.Length;
            _value = decode(bytes, interner);
            return _value;
        }
    }
}
