namespace Mmrag.Clip;

/// <summary>A CLIP model folder or model file is missing, malformed or not what was expected. The message names the file.</summary>
public sealed class ClipModelException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ClipModelException(string message) : base(message) { }

    /// <summary>Creates the exception with an inner cause.</summary>
    public ClipModelException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates the exception.</summary>
    public ClipModelException() { }
}
