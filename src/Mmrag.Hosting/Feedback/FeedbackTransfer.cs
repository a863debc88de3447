using Microsoft.Extensions.AI;
using Mmrag.Storage;

namespace Mmrag.Hosting.Feedback;

/// <summary>Carries relevance feedback from one store to another when a knowledge base is migrated or re-embedded, so that neither loses it.</summary>
internal static class FeedbackTransfer
{
    /// <summary>
    /// Copies every judgement of <paramref name="source"/> into <paramref name="target"/>, ids kept (so a second run
    /// replaces rather than repeats). With <paramref name="reembedTexts"/> (a re-embed to another model), text queries get
    /// a vector of the new model; image queries, whose image was never kept, stay with their old model's vector and id,
    /// which readers of the new model skip. Nothing happens when either store does not keep feedback.
    /// </summary>
    /// <returns>How many judgements were copied.</returns>
    public static async Task<int> CopyAsync(IKnowledgeStore source, IKnowledgeStore target, IEmbeddingGenerator<string, Embedding<float>>? reembedTexts,
        CancellationToken cancellationToken)
    {
        if (source is not IRelevanceFeedbackStore from || target is not IRelevanceFeedbackStore to)
        {
            return 0;
        }

        var judgements = await from.ListJudgementsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        // Judging several results of one query leaves several judgements with its text: embed each text once.
        var reembedded = new Dictionary<string, ReadOnlyMemory<float>>(StringComparer.Ordinal);
        foreach (var judgement in judgements)
        {
            var copy = judgement;
            if (reembedTexts is not null && judgement.Modality == FeedbackQueryModality.Text && judgement.QueryText is { } text)
            {
                if (!reembedded.TryGetValue(text, out var vector))
                {
                    vector = await reembedTexts.GenerateVectorAsync(text, cancellationToken: cancellationToken).ConfigureAwait(false);
                    reembedded.Add(text, vector);
                }

                copy = judgement with { QueryVector = vector, ModelId = target.Space.ModelId };
            }

            await to.AddJudgementAsync(copy, cancellationToken).ConfigureAwait(false);
        }

        return judgements.Count;
    }
}
