using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Mmrag.Ingestion.Pipeline;

/// <summary>
/// The identities ingestion gives things: a document's id is a hash of its normalized absolute path (so it is stable
/// across runs and machines that mount the files at the same place), an item's id hashes its document, position and
/// content, and content hashes are SHA-256 of bytes (hex, lower case).
/// </summary>
public static class DocumentIds
{
    /// <summary>The absolute path with <c>.</c>/<c>..</c> resolved and no trailing separator (case-folded where the file system ignores case); an http(s) URL as it is.</summary>
    public static string NormalizePath(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (Web.RemoteSources.IsUrl(path))
        {
            // A URL names a remote document as it is; it must not be resolved against the current folder.
            return path;
        }

        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        return OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? full.ToUpperInvariant() : full;
    }

    /// <summary>The document id of the file at <paramref name="path"/>: 32 hex digits.</summary>
    public static string ForPath(string path) => Sha256Hex(Encoding.UTF8.GetBytes(NormalizePath(path)))[..32];

    /// <summary>The id of the item at <paramref name="position"/> of a document with content <paramref name="contentHash"/>: 32 hex digits.</summary>
    public static string ForItem(string documentId, int position, string contentHash)
    {
        ArgumentNullException.ThrowIfNull(documentId);
        ArgumentNullException.ThrowIfNull(contentHash);
        return Sha256Hex(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{documentId}\n{position}\n{contentHash}")))[..32];
    }

    /// <summary>SHA-256 of <paramref name="bytes"/>, 64 lower-case hex digits.</summary>
    public static string Sha256Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>SHA-256 of the UTF-8 bytes of <paramref name="text"/>.</summary>
    public static string Sha256Hex(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Sha256Hex(Encoding.UTF8.GetBytes(text));
    }
}
