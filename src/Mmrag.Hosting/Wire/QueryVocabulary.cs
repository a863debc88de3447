using Mmrag.Answering;
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
