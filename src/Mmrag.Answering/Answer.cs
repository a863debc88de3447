using Microsoft.Extensions.AI;
using Mmrag.Answering.Reranking;
using Mmrag.Knowledge;

namespace Mmrag.Answering;

/// <summary>A question: text, and optionally the user's own image (encoded bytes, e.g. a photo of a product).</summary>
/// <param name="Text">The question (may be empty when an image is given and the strategy is multimodal).</param>
/// <param name="Image">The user's image, sent to the LLM and, in the multimodal strategy, used for retrieval.</param>
public sealed record Question(string Text, DataContent? Image = null);

/// <summary>One numbered source of an answer, as the LLM saw it.</summary>
public sealed record AnswerSource
{
    /// <summary>1-based number used in the prompt and in [n] citations.</summary>
    public required int Number { get; init; }

    /// <summary>The retrieved item (for <see cref="AnswerStrategy.TextWithImages"/>, the image a description hit maps to).</summary>
    public required KnowledgeItem Item { get; init; }

    /// <summary>Text chunk or image.</summary>
    public ItemKind Kind => Item.Kind;

    /// <summary>The document the item came from.</summary>
    public string SourcePath => Item.Provenance.SourcePath;

    /// <summary>1-based page, when known.</summary>
    public int? Page => Item.Provenance.Page;

    /// <summary>The image file, for images.</summary>
    public string? ImagePath => Item.ImagePath;

    /// <summary>The score shown to users (retrieval's <c>Score</c>).</summary>
    public required double Score { get; init; }

    /// <summary>The calibrated score (the image budget orders by it).</summary>
    public required double CalibratedScore { get; init; }

    /// <summary>Whether the image itself went to the LLM (false for text, for images over the budget and for text-only answers).</summary>
    public bool ImageSent { get; init; }

    /// <summary>Size of the image as sent, when it was.</summary>
    public int? SentWidth { get; init; }

    /// <summary>Size of the image as sent, when it was.</summary>
    public int? SentHeight { get; init; }

    /// <summary>The LLM reranker's grade and reason, when the sources were reranked and it graded this one.</summary>
    public RerankGrade? Rerank { get; init; }
}

/// <summary>A [n] marker of the answer resolved to its source.</summary>
/// <param name="Number">The marker's number.</param>
/// <param name="Source">The source it points to.</param>
public sealed record Citation(int Number, AnswerSource Source)
{
    /// <summary>Text chunk or image.</summary>
    public ItemKind Kind => Source.Kind;

    /// <summary>The document.</summary>
    public string SourcePath => Source.SourcePath;

    /// <summary>Page, when known.</summary>
    public int? Page => Source.Page;

    /// <summary>Image file, for images.</summary>
    public string? ImagePath => Source.ImagePath;

    /// <summary>The source's score.</summary>
    public double Score => Source.Score;
}

/// <summary>The answer to a question, with its sources and the citations it makes. Immutable.</summary>
public sealed record Answer
{
    /// <summary>The answer text (or the decline / no-LLM message).</summary>
    public required string Text { get; init; }

    /// <summary>Distinct citations in order of first appearance.</summary>
    public IReadOnlyList<Citation> Citations { get; init; } = [];

    /// <summary>The numbered sources given to the LLM.</summary>
    public IReadOnlyList<AnswerSource> Sources { get; init; } = [];

    /// <summary>Numbers of [n] markers that point to no source (reported, never mapped).</summary>
    public IReadOnlyList<int> UnresolvedCitations { get; init; } = [];

    /// <summary>Token usage reported by the server, when it reported any.</summary>
    public UsageDetails? Usage { get; init; }

    /// <summary>True when nothing was retrieved above the threshold: the answer does not rest on sources.</summary>
    public bool NoContext { get; init; }

    /// <summary>True when the answer was declined for lack of context (no LLM call).</summary>
    public bool Declined { get; init; }

    /// <summary>False when no LLM is configured: <see cref="Text"/> is the configuration hint and only the sources are useful.</summary>
    public bool LlmCalled { get; init; }

    /// <summary>The strategy used.</summary>
    public AnswerStrategy Strategy { get; init; }

    /// <summary>How reranking the sources went (<see cref="AnswerOptions.Rerank"/>); null when none was asked.</summary>
    public RerankReport? Rerank { get; init; }
}

/// <summary>What an <see cref="AnswerUpdate"/> carries.</summary>
public enum AnswerUpdateKind
{
    /// <summary>The sources (always the first update, before any token).</summary>
    Sources,

    /// <summary>A piece of answer text, in order.</summary>
    Token,

    /// <summary>The complete answer with citations and usage (always the last update).</summary>
    Completed,
}

/// <summary>One step of a streamed answer.</summary>
public sealed record AnswerUpdate
{
    /// <summary>What this update carries.</summary>
    public required AnswerUpdateKind Kind { get; init; }

    /// <summary>The sources (on <see cref="AnswerUpdateKind.Sources"/>; also set on the others).</summary>
    public IReadOnlyList<AnswerSource> Sources { get; init; } = [];

    /// <summary>The text piece (on <see cref="AnswerUpdateKind.Token"/>).</summary>
    public string? Text { get; init; }

    /// <summary>The complete answer (on <see cref="AnswerUpdateKind.Completed"/>).</summary>
    public Answer? Answer { get; init; }

    /// <summary>Whether nothing was retrieved above the threshold.</summary>
    public bool NoContext { get; init; }
}
