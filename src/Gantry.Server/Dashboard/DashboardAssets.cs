using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Gantry.Server.Dashboard;

/// <summary>
/// The dashboard's stylesheet and script, embedded in the assembly (no static files to lose next to the
/// binary) and served at <c>/ui/assets/NAME?v=HASH</c>: the hash changes with the content, so browsers
/// may cache them for good.
/// </summary>
internal static class DashboardAssets
{
    private static readonly Asset Css = Load("gantry.css", "text/css; charset=utf-8");
    private static readonly Asset Js = Load("gantry.js", "text/javascript; charset=utf-8");

    /// <summary>The stylesheet's address, with its content hash.</summary>
    public static string CssUrl => Css.Url;

    /// <summary>The script's address, with its content hash.</summary>
    public static string JsUrl => Js.Url;

    public static void MapDashboardAssets(this IEndpointRouteBuilder app) =>
        app.MapGet("/ui/assets/{name}", (string name, HttpContext http) =>
        {
            var asset = name switch
            {
                "gantry.css" => Css,
                "gantry.js" => Js,
                _ => null,
            };
            if (asset is null)
            {
                return Results.NotFound();
            }

            http.Response.Headers.CacheControl = http.Request.Query["v"] == asset.Hash ? "public, max-age=31536000, immutable" : "no-cache";
            http.Response.Headers.ETag = $"\"{asset.Hash}\"";
            http.Response.Headers["X-Content-Type-Options"] = "nosniff";
            return http.Request.Headers.IfNoneMatch == $"\"{asset.Hash}\""
                ? Results.StatusCode(StatusCodes.Status304NotModified)
                : Results.Bytes(asset.Content, asset.ContentType);
        });

    private static Asset Load(string name, string contentType)
    {
        using var stream = typeof(DashboardAssets).Assembly.GetManifestResourceStream("Gantry.Dashboard." + name)
            ?? throw new InvalidOperationException($"the dashboard asset {name} is missing from {typeof(DashboardAssets).Assembly.GetName().Name}");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        var content = copy.ToArray();
        var hash = Convert.ToHexStringLower(SHA256.HashData(content))[..12];
        return new Asset(content, contentType, hash, $"/ui/assets/{name}?v={hash}");
    }

    private sealed record Asset(byte[] Content, string ContentType, string Hash, string Url);
}
