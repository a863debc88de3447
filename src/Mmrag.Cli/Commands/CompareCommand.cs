using System.CommandLine;
using System.Globalization;
using System.Numerics.Tensors;

namespace Mmrag.Cli.Commands;

/// <summary>
/// <c>mmrag compare</c>: embeds texts and images and prints their cosine similarities, texts × images (and texts × texts
/// when no image is given), with the best match of each row marked.
/// </summary>
internal static class CompareCommand
{
    public static Command Create()
    {
        var modelOptions = new ModelOptions();
        var texts = new Option<string[]>("--text", "-t") { Description = "A text (repeatable)." };
        var images = new Option<string[]>("--image", "-i") { Description = "An image file (repeatable)." };
        var command = new Command("compare", "Embed texts and images and print their cosine similarity matrix.");
        modelOptions.AddTo(command);
        command.Options.Add(texts);
        command.Options.Add(images);
        command.SetAction((parseResult, cancellationToken) => CliErrors.RunAsync(parseResult.InvocationConfiguration.Error, async () =>
        {
            var inputs = EmbedCommand.OrderedInputs(parseResult, texts, images);
            if (inputs.Count < 2)
            {
                await parseResult.InvocationConfiguration.Error.WriteLineAsync("error: give at least two inputs (--text and/or --image).").ConfigureAwait(false);
                return CliErrors.Failure;
            }

            using var model = await modelOptions.LoadAsync(parseResult, cancellationToken).ConfigureAwait(false);
            var vectors = await EmbedCommand.EmbedAllAsync(model, inputs, parseResult.InvocationConfiguration.Error, cancellationToken).ConfigureAwait(false);
            var rows = Enumerable.Range(0, inputs.Count).Where(i => inputs[i].Modality == EmbedCommand.Modality.Text && vectors[i] is not null).ToArray();
            var columns = Enumerable.Range(0, inputs.Count).Where(i => inputs[i].Modality == EmbedCommand.Modality.Image && vectors[i] is not null).ToArray();
            if (columns.Length == 0)
            {
                columns = rows;
            }

            if (rows.Length == 0)
            {
                rows = columns;
            }

            var output = parseResult.InvocationConfiguration.Output;
            await output.WriteLineAsync($"model: {model.ModelId} ({model.Dimension}-d); cosine similarity, best per row marked *").ConfigureAwait(false);
            var labelWidth = Math.Min(40, rows.Max(i => Label(inputs[i]).Length));
            await output.WriteLineAsync(new string(' ', labelWidth) + string.Concat(columns.Select((c, n) => $"  [{n + 1}]".PadLeft(10)))).ConfigureAwait(false);
            foreach (var row in rows)
            {
                var scores = columns.Select(c => TensorPrimitives.CosineSimilarity(vectors[row]!, vectors[c]!)).ToArray();
                var best = row == columns.FirstOrDefault(-1) && columns.Length == 1 ? -1 : BestIndex(scores, columns, row);
                var cells = scores.Select((s, n) => (s.ToString("0.0000", CultureInfo.InvariantCulture) + (n == best ? "*" : " ")).PadLeft(10));
                await output.WriteLineAsync(Label(inputs[row]).PadRight(labelWidth)[..labelWidth] + string.Concat(cells)).ConfigureAwait(false);
            }

            for (var n = 0; n < columns.Length; n++)
            {
                await output.WriteLineAsync($"[{n + 1}] {Label(inputs[columns[n]])}").ConfigureAwait(false);
            }

            return vectors.Any(static v => v is null) ? CliErrors.Failure : 0;
        }));
        return command;
    }

    private static int BestIndex(float[] scores, int[] columns, int row)
    {
        var best = -1;
        for (var n = 0; n < scores.Length; n++)
        {
            if (columns[n] != row && (best < 0 || scores[n] > scores[best]))
            {
                best = n;
            }
        }

        return best;
    }

    private static string Label(EmbedCommand.Input input) =>
        input.Modality == EmbedCommand.Modality.Text ? $"\"{input.Value}\"" : Path.GetFileName(input.Value);
}
