namespace Mmrag.Storage.Embedded.Indexing;

/// <summary>A persisted vector index is not readable: wrong magic or version, truncated, failed its checksum, or inconsistent. The message says which.</summary>
public sealed class VectorIndexFormatException : IOException
{
    /// <summary>Creates the exception.</summary>
    public VectorIndexFormatException(string message) : base(message) { }

    /// <summary>Creates the exception with an inner cause.</summary>
    public VectorIndexFormatException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates the exception.</summary>
    public VectorIndexFormatException() { }
}
