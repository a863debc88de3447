namespace Mmrag.Ingestion.Web.Wikipedia;

/// <summary>An article as MediaWiki's <c>action=parse</c> returned it: its rendered HTML and which revision that is.</summary>
/// <param name="Title">The article's title after redirects and normalization (e.g. "Helsinki" for "helsingfors").</param>
/// <param name="RequestedTitle">The title asked for.</param>
/// <param name="PageId">The page id.</param>
/// <param name="RevisionId">The revision whose HTML this is: the article's version, compared on re-ingest.</param>
/// <param name="Language">Language edition.</param>
/// <param name="Url">The article's canonical URL (<c>https://en.wikipedia.org/wiki/Helsinki</c>).</param>
/// <param name="Html">The rendered article body (the parser output, without the skin).</param>
/// <param name="ImageFiles">The files the article uses (<c>prop=images</c>), as file names without the namespace (e.g. "Helsinki_Cathedral.jpg").</param>
public sealed record WikipediaArticle(
    string Title,
    string RequestedTitle,
    long PageId,
    long RevisionId,
    string Language,
    Uri Url,
    string Html,
    IReadOnlyList<string> ImageFiles)
{
    /// <summary>The page the request was redirected from (e.g. "Helsingfors"), when it was.</summary>
    public string? RedirectedFrom { get; init; }
}

/// <summary>One of an article's images as <c>prop=imageinfo</c> describes it, at the width asked for.</summary>
/// <param name="FileTitle">The file's title with its namespace, as the API normalized it ("File:Helsinki Cathedral.jpg").</param>
/// <param name="Url">Where to download it: the scaled rendition (<c>thumburl</c>) when there is one, else the original (<c>url</c>).</param>
/// <param name="Width">Width of that rendition, when known.</param>
/// <param name="Height">Height of that rendition, when known.</param>
/// <param name="MediaType">The file's media type (<c>mime</c>), e.g. image/jpeg.</param>
/// <param name="Attribution">Its licence and credit.</param>
public sealed record WikipediaImage(string FileTitle, Uri Url, int? Width, int? Height, string? MediaType, ImageAttribution Attribution);

/// <summary>
/// The MediaWiki API answered with an error (<c>{"error": {"code": …, "info": …}}</c>), e.g. <c>missingtitle</c> for an
/// article that does not exist; the message names the title and the API's own explanation.
/// </summary>
public sealed class MediaWikiException : Exception
{
    /// <summary>Creates the exception.</summary>
    public MediaWikiException(string message, string? code = null, string? title = null) : base(message)
    {
        Code = code;
        Title = title;
    }

    /// <summary>Creates the exception with its cause.</summary>
    public MediaWikiException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates the exception.</summary>
    public MediaWikiException() { }

    /// <summary>Creates the exception.</summary>
    public MediaWikiException(string message) : base(message) { }

    /// <summary>The API's error code (<c>missingtitle</c>, <c>invalidtitle</c>, <c>ratelimited</c> …), when it gave one.</summary>
    public string? Code { get; }

    /// <summary>The title the request was for, when it was for one.</summary>
    public string? Title { get; }
}
