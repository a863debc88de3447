using Microsoft.Data.Sqlite;
using Mmrag.Knowledge;

namespace Mmrag.Storage.Embedded.Sql;

/// <summary>Reading and writing rows of <c>items</c> and <c>documents</c>.</summary>
internal static class ItemRows
{
    /// <summary>The columns <see cref="ReadItem"/> expects, in order, for the table alias <c>i</c>.</summary>
    public const string ItemColumns =
        "i.rowid, i.id, i.document_id, i.kind, i.content_hash, i.text, i.description, i.image_path, i.source_path, i.title, " +
        "i.page, i.section, i.caption, i.position, i.tags, i.vector";

    /// <summary>Number of columns in <see cref="ItemColumns"/>.</summary>
    public const int ItemColumnCount = 16;

    public const string DocumentColumns = "d.id, d.source_path, d.content_hash, d.media_type, d.title, d.item_count, d.ingested_at, d.tags";

    public const string InsertItemSql =
        "INSERT INTO items(id, document_id, kind, content_hash, text, description, image_path, source_path, title, page, section, caption, position, tags, vector) " +
        "VALUES ($id, $document_id, $kind, $content_hash, $text, $description, $image_path, $source_path, $title, $page, $section, $caption, $position, $tags, $vector) " +
        "RETURNING rowid";

    public const string UpsertDocumentSql =
        "INSERT INTO documents(id, source_path, content_hash, media_type, title, item_count, ingested_at, tags) " +
        "VALUES ($id, $source_path, $content_hash, $media_type, $title, $item_count, $ingested_at, $tags) " +
        "ON CONFLICT(id) DO UPDATE SET source_path = excluded.source_path, content_hash = excluded.content_hash, " +
        "media_type = excluded.media_type, title = excluded.title, item_count = excluded.item_count, " +
        "ingested_at = excluded.ingested_at, tags = excluded.tags";

    public static string KindText(ItemKind kind) => kind switch
    {
        ItemKind.TextChunk => "text",
        ItemKind.Image => "image",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown item kind."),
    };

    public static ItemKind ParseKind(string text) => text switch
    {
        "text" => ItemKind.TextChunk,
        "image" => ItemKind.Image,
        _ => throw new InvalidDataException($"Unknown item kind '{text}' in the database."),
    };

    /// <summary>Reads an item from the columns <see cref="ItemColumns"/> starting at <paramref name="first"/>.</summary>
    public static KnowledgeItem ReadItem(SqliteDataReader reader, int dimension, int first = 0)
    {
        string sourcePath = reader.GetString(first + 8);
        var vector = new float[dimension];
        var blob = (byte[])reader.GetValue(first + 15);
        if (!VectorBlob.TryDecode(blob, vector))
        {
            throw new InvalidDataException($"Item '{reader.GetString(first + 1)}' has a vector of {blob.Length} bytes; the knowledge base's dimension {dimension} needs {dimension * sizeof(float)}.");
        }

        return new KnowledgeItem
        {
            Id = reader.GetString(first + 1),
            DocumentId = reader.GetString(first + 2),
            Kind = ParseKind(reader.GetString(first + 3)),
            ContentHash = reader.GetString(first + 4),
            Text = reader.GetString(first + 5),
            Description = NullableString(reader, first + 6),
            ImagePath = NullableString(reader, first + 7),
            Provenance = new Provenance(
                sourcePath,
                DocumentTitle: NullableString(reader, first + 9),
                Page: reader.IsDBNull(first + 10) ? null : reader.GetInt32(first + 10),
                Section: NullableString(reader, first + 11),
                Caption: NullableString(reader, first + 12),
                Position: reader.GetInt32(first + 13)),
            Tags = StoreText.ParseTags(reader.GetString(first + 14)),
            Vector = vector,
        };
    }

    public static DocumentRecord ReadDocument(SqliteDataReader reader) =>
        new(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), NullableString(reader, 4),
            reader.GetInt32(5), StoreText.ParseTime(reader.GetString(6)))
        {
            Tags = StoreText.ParseTags(reader.GetString(7)),
        };

    /// <summary>A prepared insert for items; bind each item with <see cref="BindItem"/>.</summary>
    public static SqliteCommand CreateInsertItem(SqliteConnection connection, SqliteTransaction transaction)
    {
        SqliteCommand command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = InsertItemSql;
        foreach (string name in (string[])["$id", "$document_id", "$kind", "$content_hash", "$text", "$description", "$image_path",
            "$source_path", "$title", "$page", "$section", "$caption", "$position", "$tags", "$vector"])
        {
            command.Parameters.Add(new SqliteParameter { ParameterName = name });
        }

        return command;
    }

    public static void BindItem(SqliteCommand insert, KnowledgeItem item, byte[] vector)
    {
        SqliteParameterCollection p = insert.Parameters;
        p[0].Value = item.Id;
        p[1].Value = item.DocumentId;
        p[2].Value = KindText(item.Kind);
        p[3].Value = item.ContentHash;
        p[4].Value = item.Text ?? string.Empty;
        p[5].Value = (object?)item.Description ?? DBNull.Value;
        p[6].Value = (object?)item.ImagePath ?? DBNull.Value;
        p[7].Value = item.Provenance.SourcePath;
        p[8].Value = (object?)item.Provenance.DocumentTitle ?? DBNull.Value;
        p[9].Value = item.Provenance.Page is int page ? page : DBNull.Value;
        p[10].Value = (object?)item.Provenance.Section ?? DBNull.Value;
        p[11].Value = (object?)item.Provenance.Caption ?? DBNull.Value;
        p[12].Value = item.Provenance.Position;
        p[13].Value = StoreText.Tags(item.Tags);
        p[14].Value = vector;
    }

    private static string? NullableString(SqliteDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);
}
