using System.CommandLine;
using System.CommandLine.Parsing;
using System.Numerics.Tensors;
using System.Text.Json;
using Mmrag.Clip.Inference;

namespace Mmrag.Cli.Commands;

/// <summary><c>mmrag embed</c>: one JSON object per input, in input order, with its CLIP embedding.</summary>
internal static class EmbedCommand
{
    public static Command Create()
    {
        var modelOptions = new ModelOptions();
        var texts = new Option<string[]>("--text", "-t") { Description = "A text to embed (repeatable)." };
        var images = new Option<string[]>("--image", "-i") { Description = "An image file to embed (repeatable)." };
        var stdin = new Option<bool>("--stdin") { Description = "Also read texts from stdin as JSON Lines (one JSON string per line)." };
        var noNormalize = new Option<bool>("--no-normalize") { Description = "Print the raw projection instead of the unit-length vector." };
        var command = new Command("embed", "Print CLIP embeddings of texts and images, one JSON object per line.");
        modelOptions.AddTo(command);
        command.Options.Add(texts);
        command.Options.Add(images);
        command.Options.Add(stdin);
        command.Options.Add(noNormalize);
        command.SetAction((parseResult, cancellationToken) => CliErrors.RunAsync(parseResult.InvocationConfiguration.Error, async () =>
        {
            var inputs = OrderedInputs(parseResult, texts, images);
            if (parseResult.GetValue(stdin))
            {
                await foreach (var text in JsonLines.ReadStringsAsync(Console.In, cancellationToken).ConfigureAwait(false))
                {
                    inputs.Add(new Input(Modality.Text, text));
                }
            }

            if (inputs.Count == 0)
            {
                await parseResult.InvocationConfiguration.Error.WriteLineAsync("error: nothing to embed: give --text, --image or --stdin.").ConfigureAwait(false);
                return CliErrors.Failure;
            }

            using var model = await modelOptions.LoadAsync(parseResult, cancellationToken).ConfigureAwait(false);
            var vectors = await EmbedAllAsync(model, inputs, parseResult.InvocationConfiguration.Error, cancellationToken).ConfigureAwait(false);
            var normalize = !parseResult.GetValue(noNormalize);
            var output = parseResult.InvocationConfiguration.Output;
            for (var i = 0; i < inputs.Count; i++)
            {
                if (vectors[i] is { } vector)
                {
                    if (normalize)
                    {
                        Normalize(vector);
                    }

                    await output.WriteLineAsync(Line(inputs[i], vector)).ConfigureAwait(false);
                }
            }

            return vectors.Any(static v => v is null) ? CliErrors.Failure : 0;
        }));
        return command;
    }

    internal enum Modality
    {
        Text,
        Image,
    }

    internal sealed record Input(Modality Modality, string Value);

    /// <summary>
    /// Embeds every input; an image that cannot be read is reported on <paramref name="error"/> by name and gets a null vector,
    /// so the others still come out. Texts and images are each batched.
    /// </summary>
    internal static async Task<float[]?[]> EmbedAllAsync(ClipModel model, IReadOnlyList<Input> inputs, TextWriter error, CancellationToken cancellationToken)
    {
        var vectors = new float[]?[inputs.Count];
        var textIndexes = Enumerable.Range(0, inputs.Count).Where(i => inputs[i].Modality == Modality.Text).ToArray();
        if (textIndexes.Length > 0)
        {
            using var generator = new ClipTextEmbeddingGenerator(model, new ClipEmbeddingOptions { Normalize = false });
            var embeddings = await generator.GenerateAsync(textIndexes.Select(i => inputs[i].Value), cancellationToken: cancellationToken).ConfigureAwait(false);
            for (var j = 0; j < textIndexes.Length; j++)
            {
                vectors[textIndexes[j]] = embeddings[j].Vector.ToArray();
            }
        }

        var imageIndexes = Enumerable.Range(0, inputs.Count).Where(i => inputs[i].Modality == Modality.Image).ToArray();
        var results = await model.EmbedImageFilesAsync([.. imageIndexes.Select(i => inputs[i].Value)], QueryImages.ReadAsync, cancellationToken).ConfigureAwait(false);
        for (var j = 0; j < imageIndexes.Length; j++)
        {
            if (results[j].Error is { } failure)
            {
                await error.WriteLineAsync($"error: image '{inputs[imageIndexes[j]].Value}': {failure.Message}").ConfigureAwait(false);
            }
            else
            {
                vectors[imageIndexes[j]] = results[j].Vector.ToArray();
            }
        }

        return vectors;
    }

    /// <summary>The --text and --image values in the order they were written on the command line.</summary>
    internal static List<Input> OrderedInputs(ParseResult parseResult, Option<string[]> texts, Option<string[]> images)
    {
        var inputs = new List<Input>();
        var tokens = parseResult.Tokens;
        for (var i = 0; i < tokens.Count - 1; i++)
        {
            if (tokens[i].Type != TokenType.Option)
            {
                continue;
            }

            var modality = Matches(texts, tokens[i].Value) ? Modality.Text : Matches(images, tokens[i].Value) ? Modality.Image : (Modality?)null;
            if (modality is { } m && tokens[i + 1].Type == TokenType.Argument)
            {
                inputs.Add(new Input(m, tokens[i + 1].Value));
                i++;
            }
        }

        return inputs;
    }

    private static bool Matches(Option option, string token) => option.Name == token || option.Aliases.Contains(token);

    private static void Normalize(float[] vector)
    {
        var norm = TensorPrimitives.Norm(vector);
        if (norm > 0)
        {
            TensorPrimitives.Divide(vector, norm, vector);
        }
    }

    private static string Line(Input input, float[] vector)
    {
        using var buffer = new MemoryStream();
        using (var writer = JsonLines.CreateWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("modality", input.Modality == Modality.Text ? "text" : "image");
            writer.WriteString("input", input.Value);
            writer.WriteStartArray("embedding");
            foreach (var value in vector)
            {
                writer.WriteNumberValue(value);
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}
