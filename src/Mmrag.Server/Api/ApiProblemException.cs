namespace Mmrag.Server.Api;

/// <summary>A client error with its HTTP status, turned into an RFC 7807 problem by the server's error handling.</summary>
internal sealed class ApiProblemException : Exception
{
    public ApiProblemException(int status, string title, string detail) : base(detail)
    {
        Status = status;
        Title = title;
    }

    public ApiProblemException()
    {
    }

    public ApiProblemException(string message) : base(message)
    {
    }

    public ApiProblemException(string message, Exception innerException) : base(message, innerException)
    {
    }

    public int Status { get; } = 400;

    public string Title { get; } = "Bad request";

    public static ApiProblemException BadRequest(string detail) => new(400, "Bad request", detail);
}
