namespace Mmrag.Clip.Preprocessing;

/// <summary>
/// Where an image goes during preprocessing: the size it is resized to, then the offset of the crop window
/// in the resized image. Offsets are negative when the resized image is smaller than the crop, which is
/// then padded with zeros (as HuggingFace's <c>center_crop</c> does).
/// </summary>
/// <param name="ResizedWidth">Width after resizing.</param>
/// <param name="ResizedHeight">Height after resizing.</param>
/// <param name="CropLeft">Column of the resized image that becomes the crop's first column.</param>
/// <param name="CropTop">Row of the resized image that becomes the crop's first row.</param>
public readonly record struct ResizePlan(int ResizedWidth, int ResizedHeight, int CropLeft, int CropTop);
