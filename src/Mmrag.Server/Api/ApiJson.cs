using System.Text.Encodings.Web;
using System.Text.Json;
using Mmrag.Answering;
using Mmrag.Knowledge;
using Mmrag.Retrieval.Search;

namespace Mmrag.Server.Api;

/// <summary>
/// The API's JSON, field for field the shapes of <c>mmrag search --format json</c> and <c>mmrag ask --format json</c>
/// (snake_case), plus the item <c>id</c> of every source so a client can fetch <c>/api/items/{id}/image</c>.
/// </summary>
public static class ApiJson
{
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string Write(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            write(writer);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    public static string Search(SearchResult result) => Write(writer =>
    {
        writer.WriteStartObject();
        writer.WriteStartArray("hits");
        foreach (var hit in result.Hits)
        {
            WriteHit(writer, hit);
        }

        writer.WriteEndArray();
        writer.WriteNumber("embed_ms", Math.Round(result.EmbedTime.TotalMilliseconds, 2));
        writer.WriteNumber("search_ms", Math.Round(result.SearchTime.TotalMilliseconds, 2));
        writer.WriteEndObject();
    });

    private static void WriteHit(Utf8JsonWriter writer, SearchHit hit)
    {
        var item = hit.Item;
        writer.WriteStartObject();
        writer.WriteString("id", item.Id);
        writer.WriteString("kind", KindName(item.Kind));
        writer.WriteNumber("score", Math.Round(hit.Score, 6));
        WriteNullable(writer, "raw_score", hit.RawScore is { } raw ? Math.Round(raw, 6) : null);
        writer.WriteString("source", item.Provenance.SourcePath);
        WriteNullable(writer, "page", item.Provenance.Page);
        writer.WriteString("section", item.Provenance.Section);
        if (item.Kind == ItemKind.Image)
        {
            writer.WriteString("description", item.Description ?? item.Text);
            writer.WriteString("image_path", item.ImagePath);
        }
        else
        {
            writer.WriteString("text", item.Text);
            writer.WriteNull("image_path");
        }

        writer.WriteString("matched_by", hit.MatchedBy.ToString().ToLowerInvariant());
        writer.WriteEndObject();
    }

    public static string Answer(Answer answer) => Write(writer => WriteAnswer(writer, answer));

    public static void WriteAnswer(Utf8JsonWriter writer, Answer answer)
    {
        writer.WriteStartObject();
        writer.WriteString("answer", answer.Text);
        writer.WriteBoolean("no_context", answer.NoContext);
        writer.WriteString("strategy", answer.Strategy.ToString());
        WriteCitations(writer, answer);
        WriteSources(writer, answer.Sources);
        if (answer.Usage is { } usage)
        {
            writer.WriteStartObject("usage");
            WriteNullable(writer, "input_tokens", usage.InputTokenCount);
            WriteNullable(writer, "output_tokens", usage.OutputTokenCount);
            WriteNullable(writer, "total_tokens", usage.TotalTokenCount);
            writer.WriteEndObject();
        }
        else
        {
            writer.WriteNull("usage");
        }

        writer.WriteEndObject();
    }

    public static void WriteCitations(Utf8JsonWriter writer, Answer answer)
    {
        writer.WriteStartArray("citations");
        foreach (var citation in answer.Citations)
        {
            writer.WriteStartObject();
            writer.WriteNumber("n", citation.Number);
            WriteSourceFields(writer, citation.Source);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteStartArray("unresolved_citations");
        foreach (var number in answer.UnresolvedCitations)
        {
            writer.WriteNumberValue(number);
        }

        writer.WriteEndArray();
    }

    public static void WriteSources(Utf8JsonWriter writer, IReadOnlyList<AnswerSource> sources)
    {
        writer.WriteStartArray("sources");
        foreach (var source in sources)
        {
            writer.WriteStartObject();
            writer.WriteNumber("n", source.Number);
            WriteSourceFields(writer, source);
            writer.WriteString(source.Kind == ItemKind.Image ? "description" : "text",
                source.Kind == ItemKind.Image ? source.Item.Description ?? source.Item.Text : source.Item.Text);
            writer.WriteBoolean("image_sent", source.ImageSent);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
    }

    private static void WriteSourceFields(Utf8JsonWriter writer, AnswerSource source)
    {
        writer.WriteString("id", source.Item.Id);
        writer.WriteString("kind", KindName(source.Kind));
        writer.WriteString("source", source.SourcePath);
        WriteNullable(writer, "page", source.Page);
        writer.WriteString("image_path", source.ImagePath);
        writer.WriteNumber("score", Math.Round(source.Score, 6));
    }

    public static string Item(KnowledgeItem item) => Write(writer =>
    {
        writer.WriteStartObject();
        writer.WriteString("id", item.Id);
        writer.WriteString("document_id", item.DocumentId);
        writer.WriteString("kind", KindName(item.Kind));
        writer.WriteString("text", item.Text);
        writer.WriteString("description", item.Description);
        writer.WriteString("source", item.Provenance.SourcePath);
        writer.WriteString("title", item.Provenance.DocumentTitle);
        WriteNullable(writer, "page", item.Provenance.Page);
        writer.WriteString("section", item.Provenance.Section);
        writer.WriteString("caption", item.Provenance.Caption);
        writer.WriteNumber("position", item.Provenance.Position);
        writer.WriteString("image_path", item.ImagePath);
        writer.WriteString("image_url", item.ImagePath is null ? null : $"/api/items/{Uri.EscapeDataString(item.Id)}/image");
        writer.WriteString("content_hash", item.ContentHash);
        writer.WriteStartArray("tags");
        foreach (var tag in item.Tags)
        {
            writer.WriteStringValue(tag);
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    });

    public static string KindName(ItemKind kind) => kind == ItemKind.Image ? "image" : "text";

    private static void WriteNullable(Utf8JsonWriter writer, string name, double? value)
    {
        if (value is { } v)
        {
            writer.WriteNumber(name, v);
        }
        else
        {
            writer.WriteNull(name);
        }
    }

    private static void WriteNullable(Utf8JsonWriter writer, string name, long? value)
    {
        if (value is { } v)
        {
            writer.WriteNumber(name, v);
        }
        else
        {
            writer.WriteNull(name);
        }
    }
}
