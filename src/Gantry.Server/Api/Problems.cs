using Microsoft.AspNetCore.Http;

namespace Gantry.Server.Api;

/// <summary>Error answers as <c>application/problem+json</c>, each naming what is wrong.</summary>
internal static class Problems
{
    /// <summary>400 with the field that is wrong in <c>errors</c>.</summary>
    public static IResult Invalid(string field, string message) =>
        TypedResults.ValidationProblem(
            new Dictionary<string, string[]> { [field] = [message] },
            detail: $"{field}: {message}",
            title: "Invalid request");

    /// <summary>400 listing every wrong field.</summary>
    public static IResult Invalid(Dictionary<string, string[]> errors)
    {
        var first = errors.First();
        return TypedResults.ValidationProblem(errors, detail: $"{first.Key}: {first.Value[0]}", title: "Invalid request");
    }

    public static IResult NotFound(string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status404NotFound, title: "Not found");

    public static IResult Conflict(string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status409Conflict, title: "Conflict");

    public static IResult Unauthorized(string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status401Unauthorized, title: "Unauthorized");

    public static IResult Unavailable(string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status503ServiceUnavailable, title: "Service unavailable");

    public static IResult Forbidden(string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status403Forbidden, title: "Forbidden");

    /// <summary>429 with <c>Retry-After</c> in whole seconds.</summary>
    public static IResult TooManyRequests(HttpResponse response, TimeSpan retryAfter, string detail)
    {
        ArgumentNullException.ThrowIfNull(response);
        response.Headers.RetryAfter = Math.Max(1, (long)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return TypedResults.Problem(detail, statusCode: StatusCodes.Status429TooManyRequests, title: "Too many requests");
    }

    public static IResult TooLarge(long limit) =>
        TypedResults.Problem($"the request body is larger than {limit} bytes", statusCode: StatusCodes.Status413PayloadTooLarge, title: "Request body too large");

    public static IResult UnsupportedMediaType() =>
        TypedResults.Problem("send the body as application/json", statusCode: StatusCodes.Status415UnsupportedMediaType, title: "Unsupported media type");
}
