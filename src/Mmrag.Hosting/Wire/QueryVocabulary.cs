using Mmrag.Answering;
using Mmrag.Answering.Reranking;
using Mmrag.Retrieval.Search;

namespace Mmrag.Hosting.Wire;

/// <summary>
/// The words and defaults of a query, shared by the command line and the HTTP API: one parser for targets and
/// strategies, and the defaults of <see cref="SearchRequest"/> and <see cref="AnswerOptions"/> for k and the image budget.
/// </summary>
public static class QueryVocabulary
{
    /// <summary>The target words (<c>images</c>, <c>text</c>, <c>all</c>).</summary>
    public static IReadOnlyList<string> TargetNames { get; } = ["images", "text", "all"];

    /// <summary>The strategy words (<c>multimodal</c>, <c>text+images</c>, <c>text</c>).</summary>
    public static IReadOnlyList<string> StrategyNames { get; } = ["multimodal", "text+images", "text"];

    /// <summary>Results of a search when k is not given.</summary>
    public static int DefaultSearchK { get; } = new SearchRequest().K;

    /// <summary>Sources of an answer when k is not given.</summary>
    public static int DefaultAnswerK => AnswerOptions.Default.K;

    /// <summary>Images sent to the LLM when the budget is not given.</summary>
    public static int DefaultMaxImages => AnswerOptions.Default.MaxImages;

    /// <summary>Reads a target word (any case; also <c>image</c>, <c>texts</c>); null or empty is <see cref="SearchTarget.All"/>.</summary>
    public static bool TryParseTarget(string? word, out SearchTarget target)
    {
        SearchTarget? parsed = word?.ToLowerInvariant() switch
        {
            null or "" or "all" => SearchTarget.All,
            "images" or "image" => SearchTarget.Images,
            "text" or "texts" => SearchTarget.Text,
            _ => null,
        };
        target = parsed ?? SearchTarget.All;
        return parsed is not null;
    }

    /// <summary>The rerank words: <c>llm</c> (the top <see cref="RerankOptions.DefaultCandidates"/>) or <c>llm:N</c>; <c>none</c> or empty for no rerank.</summary>
    public static string RerankSyntax { get; } = $"llm or llm:N (N from 1 to {RerankOptions.MaxCandidates}; default {RerankOptions.DefaultCandidates}), or none";

    /// <summary>
    /// Reads a rerank word (any case): <c>llm</c> → the top 10, <c>llm:N</c> → the top N (1 to
    /// <see cref="RerankOptions.MaxCandidates"/>); null, empty, <c>none</c> or <c>off</c> → null (no rerank).
    /// </summary>
    public static bool TryParseRerank(string? word, out RerankOptions? rerank)
    {
        rerank = null;
        var value = word?.Trim().ToLowerInvariant();
        if (value is null or "" or "none" or "off")
        {
            return true;
        }

        if (value == "llm")
        {
            rerank = RerankOptions.Default;
            return true;
        }

        if (value.StartsWith("llm:", StringComparison.Ordinal)
            && int.TryParse(value.AsSpan(4), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n)
            && n is >= 1 and <= RerankOptions.MaxCandidates)
        {
            rerank = new RerankOptions { Candidates = n };
            return true;
        }

        return false;
    }

    /// <summary>Reads a strategy word (any case; also the enum names); null or empty is <see cref="AnswerStrategy.Multimodal"/>.</summary>
    public static bool TryParseStrategy(string? word, out AnswerStrategy strategy)
    {
        AnswerStrategy? parsed = word?.ToLowerInvariant() switch
        {
            null or "" or "multimodal" => AnswerStrategy.Multimodal,
            "text+images" or "textwithimages" => AnswerStrategy.TextWithImages,
            "text" or "textonly" => AnswerStrategy.TextOnly,
            _ => null,
        };
        strategy = parsed ?? AnswerStrategy.Multimodal;
        return parsed is not null;
    }
}
