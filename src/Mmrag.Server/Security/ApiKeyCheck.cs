using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Mmrag.Server.Security;

/// <summary>Requires the API key on <c>/api/*</c> and <c>/metrics</c> when one is configured; the page, <c>/healthz</c> and the OpenAPI document stay public.</summary>
internal sealed class ApiKeyCheck(string? apiKey)
{
    private readonly byte[]? _key = string.IsNullOrEmpty(apiKey) ? null : Encoding.UTF8.GetBytes(apiKey);

    public bool Enabled => _key is not null;

    public static bool IsProtected(PathString path) =>
        path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase) || path.StartsWithSegments("/metrics", StringComparison.OrdinalIgnoreCase);

    public bool IsAuthorized(HttpRequest request)
    {
        if (_key is null)
        {
            return true;
        }

        string? presented = request.Headers["X-Api-Key"];
        if (string.IsNullOrEmpty(presented))
        {
            string? authorization = request.Headers.Authorization;
            if (authorization is not null && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            {
                presented = authorization["Bearer ".Length..].Trim();
            }
        }

        return presented is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), _key);
    }
}
