using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Gantry.Cli.Configuration;
using Gantry.Core.Protocol;

namespace Gantry.Cli.Http;

/// <summary>JSON the client reads that is not part of the API records: its config file and problem answers.</summary>
[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    WriteIndented = true)]
[JsonSerializable(typeof(ClientConfigFile))]
[JsonSerializable(typeof(Problem))]
internal sealed partial class ClientJsonContext : JsonSerializerContext;

/// <summary>
/// How the client reads the server's answers: <see cref="GantryJson"/>'s shapes, but tolerant of
/// properties it does not know, so an older client keeps working against a newer server.
/// Requests are still written by <see cref="GantryJson.Default"/>.
/// </summary>
internal static class ResponseJson
{
    private static readonly JsonSerializerOptions Options = new(GantryJson.Default.Options)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
        TypeInfoResolver = GantryJson.Default,
    };

    public static JsonTypeInfo<T> For<T>() => (JsonTypeInfo<T>)Options.GetTypeInfo(typeof(T));
}

/// <summary>
/// An <c>application/problem+json</c> answer (RFC 9457) with the API's per-field <c>errors</c>.
/// Extension members the client does not know (ASP.NET Core's <c>traceId</c>) are skipped.
/// </summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Skip)]
internal sealed record Problem
{
    public string? Type { get; init; }

    public string? Title { get; init; }

    public int? Status { get; init; }

    public string? Detail { get; init; }

    public string? Instance { get; init; }

    /// <summary>Field (JSON path or query parameter) → what is wrong with it.</summary>
    public Dictionary<string, string[]>? Errors { get; init; }

    /// <summary>A 403 of a role check: the role the call needs (its detail names it, and the caller's).</summary>
    public string? RequiredRole { get; init; }

    /// <summary>A 403 of a role check: the caller's role.</summary>
    public string? Role { get; init; }
}
