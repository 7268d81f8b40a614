using System.Text.Json;
using Gantry.Testing;

namespace Gantry.EndToEnd.Tests;

/// <summary><c>gantry audit ls</c> with the real binary against a real <c>gantry server</c>, after changes made with the CLI.</summary>
[Collection("fleet")]
public sealed class AuditCliTests
{
    [Fact]
    public async Task AuditLs_AfterSubmitAndCancel_ListsBothNewestFirst()
    {
        await using var fleet = await Fleet.StartAsync();
        var env = new Dictionary<string, string>
        {
            ["GANTRY_SERVER"] = fleet.Url,
            ["GANTRY_TOKEN"] = (await File.ReadAllTextAsync(Path.Combine(fleet.DataDir, "admin.token"))).Trim(),
            ["XDG_CONFIG_HOME"] = Path.Combine(fleet.Root, "config"),
        };
        Task<(int ExitCode, string Output)> RunAsync(params string[] args) => GantryProcess.RunAsync(args, env, TimeSpan.FromSeconds(60));

        var (submitCode, submitted) = await RunAsync("jobs", "submit", "--", "sleep", "600");
        Assert.True(submitCode == 0, submitted);
        var jobId = submitted.Trim();
        var (cancelCode, cancelled) = await RunAsync("jobs", "cancel", jobId);
        Assert.True(cancelCode == 0, cancelled);

        var (tableCode, table) = await RunAsync("audit", "ls", "--since", "1h");
        Assert.True(tableCode == 0, table);
        var lines = table.TrimEnd('\n').Split('\n');
        Assert.Matches(@"^TIME\s+ACTOR\s+ADDRESS\s+ACTION\s+TARGET\s+OUTCOME$", lines[0]);
        Assert.Matches($@"^\S+ \S+Z\s+admin\s+127\.0\.0\.1\s+job\.cancel\s+{jobId}\s+ok 200$", lines[1]);
        Assert.Matches($@"^\S+ \S+Z\s+admin\s+127\.0\.0\.1\s+job\.submit\s+{jobId}\s+ok 201$", lines[2]);
        Assert.Equal(3, lines.Length);

        var (jsonCode, json) = await RunAsync("audit", "ls", "--action", "job.cancel", "-o", "json");
        Assert.True(jsonCode == 0, json);
        using var document = JsonDocument.Parse(json);
        var entry = Assert.Single(document.RootElement.GetProperty("items").EnumerateArray());
        Assert.Equal(jobId, entry.GetProperty("target").GetString());
        Assert.Equal("admin", entry.GetProperty("actor").GetString());

        var (badCode, bad) = await RunAsync("audit", "ls", "--since", "yesterday");
        Assert.Equal(2, badCode);
        Assert.Contains("--since", bad, StringComparison.Ordinal);
    }
}
