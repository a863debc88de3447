using System.CommandLine;
using System.Text.Json;
using Mmrag.Clip.Models;
using Mmrag.Clip.Tokenization;

namespace Mmrag.Cli.Commands;

/// <summary><c>mmrag tokenize</c>: one JSON object per input with the BPE ids and the model input.</summary>
internal static class TokenizeCommand
{
    public static Command Create()
    {
        var modelOptions = new ModelOptions();
        var stdin = new Option<bool>("--stdin") { Description = "Read texts from stdin as JSON Lines (one JSON string per line)." };
        var flavor = new Option<ClipTokenizerFlavor>("--flavor")
        {
            Description = "OpenAi (the reference CLIP was trained with; default) or HuggingFace (tokenizer.json behaviour).",
            DefaultValueFactory = static _ => ClipTokenizerFlavor.OpenAi,
        };
        var texts = new Argument<string[]>("text") { Arity = ArgumentArity.ZeroOrMore, Description = "Texts to tokenize." };
        var command = new Command("tokenize", "Print CLIP token ids for texts, one JSON object per line.");
        modelOptions.AddTo(command, inference: false);
        command.Options.Add(stdin);
        command.Options.Add(flavor);
        command.Arguments.Add(texts);
        command.SetAction((parseResult, cancellationToken) => CliErrors.RunAsync(parseResult.InvocationConfiguration.Error, async () =>
        {
            var directory = ClipModelDirectory.OpenTokenizerOnly(await modelOptions.ResolveDirectoryAsync(parseResult, cancellationToken).ConfigureAwait(false));
            var tokenizer = ClipTokenizer.Load(directory.Path, new ClipTokenizerOptions { Flavor = parseResult.GetValue(flavor) }, directory.MaxPositionEmbeddings);
            var output = parseResult.InvocationConfiguration.Output;
            var inputIds = new long[tokenizer.ContextLength];
            var mask = new long[tokenizer.ContextLength];
            await foreach (var text in Inputs(parseResult.GetValue(texts) ?? [], parseResult.GetValue(stdin), cancellationToken).ConfigureAwait(false))
            {
                var ids = tokenizer.EncodeToIds(text);
                tokenizer.WriteModelInput(tokenizer.Encode(text), inputIds, mask);
                await output.WriteLineAsync(Line(text, ids, inputIds, mask)).ConfigureAwait(false);
            }

            return 0;
        }));
        return command;
    }

    internal static async IAsyncEnumerable<string> Inputs(string[] arguments, bool readStdin,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var argument in arguments)
        {
            yield return argument;
        }

        if (readStdin)
        {
            await foreach (var text in JsonLines.ReadStringsAsync(Console.In, cancellationToken).ConfigureAwait(false))
            {
                yield return text;
            }
        }
    }

    private static string Line(string text, int[] ids, long[] inputIds, long[] mask)
    {
        using var buffer = new MemoryStream();
        using (var writer = JsonLines.CreateWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("text", text);
            WriteArray(writer, "ids", ids.Select(static i => (long)i));
            WriteArray(writer, "input_ids", inputIds);
            WriteArray(writer, "attention_mask", mask);
            writer.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private static void WriteArray(Utf8JsonWriter writer, string name, IEnumerable<long> values)
    {
        writer.WriteStartArray(name);
        foreach (var value in values)
        {
            writer.WriteNumberValue(value);
        }

        writer.WriteEndArray();
    }
}
