using Mmrag.Clip.Models;
namespace Mmrag.Clip.Inference;
public sealed partial class ClipModel
{
    private void InitializeImagePipeline(ClipModelDirectory directory, ClipModelOptions options) { }
    internal (int Channels, int Height, int Width) PixelValuesShape => (3, 224, 224);
}
