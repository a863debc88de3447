using System.Buffers;
using System.Security.Cryptography;

namespace Mmrag.Clip.Models;

/// <summary>
/// The file side of a resumable download: the <c>.partial</c> file opened under an exclusive lock, a response body
/// appended to it with a stall timeout, and its SHA-256. <see cref="ModelDownloader"/> decides when to resume,
/// restart, verify and rename.
/// </summary>
internal static class PartialDownload
{
    private const int BufferSize = 1 << 16;

    /// <summary>Opens (or creates) <paramref name="partialPath"/>; <paramref name="inUse"/> turns a failure to open it into the exception to throw.</summary>
    public static FileStream Open(string partialPath, Func<IOException, Exception> inUse)
    {
        try
        {
            // FileShare.None takes an exclusive lock (flock on Unix), so two downloads never interleave bytes.
            return new FileStream(partialPath, new FileStreamOptions
            {
                Mode = FileMode.OpenOrCreate,
                Access = FileAccess.ReadWrite,
                Share = FileShare.None,
                Options = FileOptions.Asynchronous,
                BufferSize = BufferSize,
            });
        }
        catch (IOException e)
        {
            throw inUse(e);
        }
    }

    /// <summary>
    /// Appends <paramref name="response"/>'s body to <paramref name="stream"/>, reporting its length as it grows;
    /// no data for <paramref name="stallTimeout"/> is a <see cref="TimeoutException"/>, a broken connection a <see cref="HubTransferException"/>.
    /// </summary>
    public static async Task AppendBodyAsync(HttpResponseMessage response, FileStream stream, TimeSpan stallTimeout, Action<long> progress,
        CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            await using (body.ConfigureAwait(false))
            {
                stream.Seek(0, SeekOrigin.End);
                while (true)
                {
                    int read;
                    stall.CancelAfter(stallTimeout);
                    try
                    {
                        read = await body.ReadAsync(buffer.AsMemory(0, BufferSize), stall.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                    {
                        throw new TimeoutException($"no data received for {stallTimeout.TotalSeconds:0.#} s");
                    }
                    catch (IOException e)
                    {
                        throw new HubTransferException("the connection broke during the transfer", e);
                    }

                    if (read == 0)
                    {
                        break;
                    }

                    await stream.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                    progress(stream.Length);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The lower-case hex SHA-256 of the whole file.</summary>
    public static async Task<string> Sha256Async(FileStream stream, CancellationToken cancellationToken)
    {
        stream.Position = 0;
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false));
    }
}
