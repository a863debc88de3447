namespace Mmrag.Clip.Tests.Inference;

/// <summary>A throw-away copy of the tiny model folder (files symlinked, so it is cheap) that a test may alter.</summary>
internal sealed class ModelFolderCopy : IDisposable
{
    private readonly TemporaryDirectory _directory = new();

    public string Path => _directory.Path;

    public static ModelFolderCopy Create(string textModelSource = "text_model.onnx", string visionModelSource = "vision_model.onnx")
    {
        var copy = new ModelFolderCopy();
        var source = ClipFixtures.ModelDirectory;
        foreach (var file in Directory.GetFiles(source))
        {
            File.CreateSymbolicLink(System.IO.Path.Combine(copy.Path, System.IO.Path.GetFileName(file)), file);
        }

        var onnx = Directory.CreateDirectory(System.IO.Path.Combine(copy.Path, "onnx")).FullName;
        File.CreateSymbolicLink(System.IO.Path.Combine(onnx, "text_model.onnx"), System.IO.Path.Combine(source, "onnx", textModelSource));
        File.CreateSymbolicLink(System.IO.Path.Combine(onnx, "vision_model.onnx"), System.IO.Path.Combine(source, "onnx", visionModelSource));
        return copy;
    }

    public void Dispose() => _directory.Dispose();
}
