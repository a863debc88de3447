using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Mmrag.Clip.Inference;

/// <summary>
/// One ONNX Runtime session for one CLIP tower, created once and shared (sessions are thread-safe for Run).
/// Inputs are fed exactly as the graph declares them; the embedding output is read by name into a caller buffer.
/// </summary>
internal sealed class OnnxTower : IDisposable
{
    private readonly InferenceSession _session;
    private readonly string[] _outputNames;

    private OnnxTower(InferenceSession session, string path, string outputName, int dimension)
    {
        _session = session;
        Path = path;
        OutputName = outputName;
        Dimension = dimension;
        _outputNames = [outputName];
    }

    public string Path { get; }

    public string OutputName { get; }

    public int Dimension { get; }

    public IReadOnlyDictionary<string, NodeMetadata> Inputs => _session.InputMetadata;

    public static OnnxTower Create(string path, string outputName, ClipModelOptions options)
    {
        var sessionOptions = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            // Left at 0, ONNX Runtime picks its own count and pins its threads to cores; on the 2-vCPU machines this
            // project is measured on that ran the vision tower at half its rate inside `mmrag ingest` (18 against 37
            // images/s, the process at 1.1-1.2 cores), so "automatic" is one thread per processor, unpinned.
            IntraOpNumThreads = options.IntraOpThreads > 0 ? options.IntraOpThreads : Environment.ProcessorCount,
            InterOpNumThreads = 1,
        };
        sessionOptions.AddSessionConfigEntry("session.intra_op.allow_spinning", options.AllowSpinning ? "1" : "0");
        foreach (var (key, value) in options.SessionConfigEntries)
        {
            sessionOptions.AddSessionConfigEntry(key, value);
        }

        InferenceSession session;
        try
        {
            session = new InferenceSession(path, sessionOptions);
        }
        catch (OnnxRuntimeException exception)
        {
            throw new ClipModelException($"{path}: ONNX Runtime could not load this file as a model ({exception.Message}).", exception);
        }
        finally
        {
            sessionOptions.Dispose();
        }

        try
        {
            if (!session.OutputMetadata.TryGetValue(outputName, out var output))
            {
                throw new ClipModelException(
                    $"{path}: expected an output named '{outputName}', found {string.Join(", ", session.OutputMetadata.Keys.Select(static k => $"'{k}'"))}. Is this the right tower of a CLIP export with projection?");
            }

            if (output.ElementDataType != TensorElementType.Float || output.Dimensions.Length != 2 || output.Dimensions[1] <= 0)
            {
                throw new ClipModelException(
                    $"{path}: output '{outputName}' must be float32 [batch, dimension], found {output.ElementDataType} [{string.Join(", ", output.Dimensions)}].");
            }

            return new OnnxTower(session, path, outputName, output.Dimensions[1]);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>Runs the graph with the given inputs, writing <c>[batch, Dimension]</c> floats into <paramref name="output"/>.</summary>
    public void Run(IReadOnlyCollection<string> inputNames, IReadOnlyCollection<OrtValue> inputs, Memory<float> output, int batch,
        CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var outputValue = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, output[..(batch * Dimension)], [batch, Dimension]);
        using var runOptions = new RunOptions();
        using (cancellationToken.Register(static state => ((RunOptions)state!).Terminate = true, runOptions))
        {
            try
            {
                _session.Run(runOptions, inputNames, inputs, _outputNames, [outputValue]);
            }
            catch (OnnxRuntimeException) when (cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException("The ONNX run was cancelled.", cancellationToken);
            }
            catch (OnnxRuntimeException exception)
            {
                throw new ClipModelException($"{Path}: inference failed ({exception.Message}).", exception);
            }
        }
    }

    public void Dispose() => _session.Dispose();
}
