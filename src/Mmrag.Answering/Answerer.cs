using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Mmrag.Answering.Captioning;
using Mmrag.Answering.Citations;
using Mmrag.Answering.Images;
using Mmrag.Answering.Llm;
using Mmrag.Answering.Prompting;
using Mmrag.Answering.Reranking;
using Mmrag.Knowledge;
using Mmrag.Retrieval.Search;

namespace Mmrag.Answering;

/// <summary>
/// Answers questions: retrieves per strategy, builds the prompt (numbered sources, image budget), asks the LLM and maps
/// [n] citations back to the sources. Thread-safe; it owns neither the searcher nor the chat client. With no chat client
/// (no LLM configured) it returns the sources and <see cref="LlmOptions.ConfigurationHint"/>.
/// </summary>
public sealed class Answerer
{
    /// <summary>The text of a declined answer.</summary>
    public const string DeclinedText = "Nothing in the knowledge base is relevant enough to answer this question (no source scored above the threshold).";

    private readonly KnowledgeSearcher _searcher;
    private readonly IChatClient? _chatClient;
    private readonly PromptBuilder _promptBuilder;
    private readonly LlmReranker _reranker;
    private readonly ILogger _logger;

    /// <summary>Creates an answerer over <paramref name="searcher"/>; <paramref name="chatClient"/> null means no LLM is configured.</summary>
    /// <param name="searcher">Finds the sources.</param>
    /// <param name="chatClient">The LLM, or null.</param>
    /// <param name="reencoder">Re-encodes images for the prompt; SkiaSharp JPEG by default.</param>
    /// <param name="logger">Logs what was left out of prompts.</param>
    /// <param name="reranker">Reranks sources when a question asks for it; by default one over <paramref name="chatClient"/> that logs with <paramref name="logger"/>.</param>
    public Answerer(KnowledgeSearcher searcher, IChatClient? chatClient, IImageReencoder? reencoder = null, ILogger<Answerer>? logger = null,
        LlmReranker? reranker = null)
    {
        ArgumentNullException.ThrowIfNull(searcher);
        _searcher = searcher;
        _chatClient = chatClient;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _promptBuilder = new PromptBuilder(reencoder, _logger);
        _reranker = reranker ?? new LlmReranker(chatClient, reencoder, _logger);
    }

    /// <summary>Whether an LLM is configured.</summary>
    public bool HasLlm => _chatClient is not null;

    /// <summary>Answers <paramref name="question"/> in one response.</summary>
    /// <exception cref="LlmException">The LLM server failed (from the factory's client).</exception>
    public async Task<Answer> AskAsync(Question question, AnswerOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= AnswerOptions.Default;
        var prepared = await PrepareAsync(question, options, cancellationToken).ConfigureAwait(false);
        if (prepared.Final is { } final)
        {
            return final;
        }

        var response = await _chatClient!.GetResponseAsync(prepared.Prompt.Messages, ChatOptionsFor(options), cancellationToken).ConfigureAwait(false);
        return Complete(response.Text, response.Usage, prepared, options);
    }

    /// <summary>
    /// Answers <paramref name="question"/> as a stream: first the sources (before any token), then the tokens as they
    /// arrive, then the complete answer with citations and usage.
    /// </summary>
    public async IAsyncEnumerable<AnswerUpdate> AskStreamingAsync(Question question, AnswerOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        options ??= AnswerOptions.Default;
        var prepared = await PrepareAsync(question, options, cancellationToken).ConfigureAwait(false);
        yield return new AnswerUpdate { Kind = AnswerUpdateKind.Sources, Sources = prepared.Prompt.Sources, NoContext = prepared.NoContext };
        if (prepared.Final is { } final)
        {
            yield return new AnswerUpdate { Kind = AnswerUpdateKind.Completed, Sources = final.Sources, Answer = final, NoContext = final.NoContext };
            yield break;
        }

        var text = new StringBuilder();
        UsageDetails? usage = null;
        await foreach (var update in _chatClient!.GetStreamingResponseAsync(prepared.Prompt.Messages, ChatOptionsFor(options), cancellationToken)
                           .ConfigureAwait(false))
        {
            foreach (var content in update.Contents)
            {
                if (content is UsageContent u)
                {
                    usage ??= new UsageDetails();
                    usage.Add(u.Details);
                }
            }

            var piece = update.Text;
            if (!string.IsNullOrEmpty(piece))
            {
                text.Append(piece);
                yield return new AnswerUpdate { Kind = AnswerUpdateKind.Token, Text = piece, Sources = prepared.Prompt.Sources, NoContext = prepared.NoContext };
            }
        }

        var answer = Complete(text.ToString(), usage, prepared, options);
        yield return new AnswerUpdate { Kind = AnswerUpdateKind.Completed, Sources = answer.Sources, Answer = answer, NoContext = answer.NoContext };
    }

    private async Task<Prepared> PrepareAsync(Question question, AnswerOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(question);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (string.IsNullOrWhiteSpace(question.Text) && question.Image is null)
        {
            throw new ArgumentException("A question needs text, an image, or both.", nameof(question));
        }

        // Encoded before retrieval: an undecodable image is the caller's error, reported before any work.
        var questionImage = _promptBuilder.EncodeQuestionImage(question, options);
        var (candidates, rerank) = await RetrieveAndRerankAsync(question, options, cancellationToken).ConfigureAwait(false);
        var noContext = candidates.Count == 0;
        if (noContext)
        {
            Log.NoContext(_logger, options.NoContextBehavior.ToString());
        }

        var prompt = await _promptBuilder.BuildAsync(question, questionImage, candidates, options, cancellationToken).ConfigureAwait(false);
        Answer? final = null;
        if (_chatClient is null)
        {
            final = new Answer { Text = LlmOptions.ConfigurationHint, Sources = prompt.Sources, NoContext = noContext, Strategy = options.Strategy, Rerank = rerank };
        }
        else if (noContext && options.NoContextBehavior == NoContextBehavior.Decline)
        {
            final = new Answer { Text = DeclinedText, NoContext = true, Declined = true, Strategy = options.Strategy, Rerank = rerank };
        }

        return new Prepared(prompt, noContext, final, rerank);
    }

    /// <summary>
    /// Retrieves the sources; with <see cref="AnswerOptions.Rerank"/>, retrieves at least its candidate count, has the
    /// LLM grade them (failures keep retrieval's order) and keeps the best <see cref="AnswerOptions.K"/>.
    /// </summary>
    private async Task<(IReadOnlyList<SourceCandidate> Candidates, RerankReport? Rerank)> RetrieveAndRerankAsync(Question question, AnswerOptions options,
        CancellationToken cancellationToken)
    {
        if (options.Rerank is not { } rerank)
        {
            return (await RetrieveAsync(question, options, cancellationToken).ConfigureAwait(false), null);
        }

        var pool = await RetrieveAsync(question, options with { K = Math.Max(options.K, rerank.Candidates) }, cancellationToken).ConfigureAwait(false);
        // The reranker sees what the answer's prompt may show: no image at all under the text-only strategy.
        var query = options.Strategy == AnswerStrategy.TextOnly ? question with { Image = null } : question;
        var outcome = await _reranker.RerankAsync(query, [.. pool.Select(static c => new RerankCandidate(c.Item, c.SendImage))], rerank, cancellationToken)
            .ConfigureAwait(false);
        var graded = pool.Select((c, i) => c with { Rerank = outcome.Grades[i] }).ToList();
        return ([.. outcome.Apply(graded).Take(options.K)], outcome.Report);
    }

    private async Task<IReadOnlyList<SourceCandidate>> RetrieveAsync(Question question, AnswerOptions options, CancellationToken cancellationToken)
    {
        var text = string.IsNullOrWhiteSpace(question.Text) ? null : question.Text;
        if (options.Strategy == AnswerStrategy.Multimodal)
        {
            var result = await _searcher.SearchAsync(new SearchRequest
            {
                Text = text, Image = question.Image, Target = SearchTarget.All,
                K = options.K, KImages = options.KImages, KText = options.KText, Threshold = options.Threshold, UseAdapter = options.UseAdapter,
            }, cancellationToken).ConfigureAwait(false);
            return [.. DistinctImages(result.Hits).Select(h => new SourceCandidate(AsSource(h.Item), h.Score, h.CalibratedScore, SendImage: true))];
        }

        if (text is null)
        {
            return []; // text retrieval has nothing to search with
        }

        // Text strategies: text chunks by vector + keyword, and images only through their text (descriptions,
        // captions, nearby text) matched by keyword search; a vector-only image hit matched the pixels, not the text.
        var chunks = await _searcher.SearchAsync(new SearchRequest
        {
            Text = text, Target = SearchTarget.Text, K = options.K, KText = options.KText, Threshold = options.Threshold, UseAdapter = options.UseAdapter,
        }, cancellationToken).ConfigureAwait(false);
        var images = options.KImages == 0 ? null : await _searcher.SearchAsync(new SearchRequest
        {
            Text = text, Target = SearchTarget.Images, Hybrid = true, K = options.K, KImages = options.KImages, Threshold = options.Threshold,
            UseAdapter = options.UseAdapter,
        }, cancellationToken).ConfigureAwait(false);

        var sendImages = options.Strategy == AnswerStrategy.TextWithImages;
        return [.. DistinctImages(chunks.Hits
                .Concat(images?.Hits.Where(h => h.MatchedBy != MatchedBy.Vector) ?? [])
                .OrderByDescending(h => h.CalibratedScore))
            .Take(options.K)
            .Select(h => new SourceCandidate(AsSource(h.Item), h.Score, h.CalibratedScore, sendImages))];
    }

    // A caption chunk (a text chunk with an image path, see StoreCaptioning) stands for its image: the source is the
    // image, described by the caption. The image and its caption chunk count once, at the better score.
    private static IEnumerable<SearchHit> DistinctImages(IEnumerable<SearchHit> hits) =>
        hits.DistinctBy(h => h.Item.ImagePath is { } path ? "image:" + path : "item:" + h.Item.Id);

    private static KnowledgeItem AsSource(KnowledgeItem item) =>
        item.Kind == ItemKind.TextChunk && !string.IsNullOrEmpty(item.ImagePath)
            ? item with
            {
                Kind = ItemKind.Image,
                Id = item.Id.EndsWith(StoreCaptioning.CaptionIdSuffix, StringComparison.Ordinal) ? item.Id[..^StoreCaptioning.CaptionIdSuffix.Length] : item.Id,
                Description = string.IsNullOrWhiteSpace(item.Description) ? item.Text : item.Description,
            }
            : item;

    private static ChatOptions ChatOptionsFor(AnswerOptions options) => new()
    {
        Temperature = options.Temperature,
        MaxOutputTokens = options.MaxOutputTokens,
    };

    private static Answer Complete(string text, UsageDetails? usage, Prepared prepared, AnswerOptions options)
    {
        var (citations, unresolved) = CitationParser.Resolve(text, prepared.Prompt.Sources);
        return new Answer
        {
            Text = text,
            Citations = citations,
            UnresolvedCitations = unresolved,
            Sources = prepared.Prompt.Sources,
            Usage = usage,
            NoContext = prepared.NoContext,
            LlmCalled = true,
            Strategy = options.Strategy,
            Rerank = prepared.Rerank,
        };
    }

    private sealed record Prepared(Prompt Prompt, bool NoContext, Answer? Final, RerankReport? Rerank);
}
