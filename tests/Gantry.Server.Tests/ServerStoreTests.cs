using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using Gantry.Core.Protocol;
using Gantry.Hosting.Settings;
using Gantry.Server.Configuration;
using Gantry.Server.Storage;
using Gantry.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Gantry.Server.Tests;

/// <summary>The server on the store <c>--store</c> names: refused clearly when it cannot be had.</summary>
public sealed class ServerStoreTests
{
    [Theory]
    [InlineData("postgres://gantry:s3cret@db.example:notaport/fleet", "port")]
    [InlineData("postgres://gantry:s3cret@db.example/fleet?sslmode=sometimes", "sslmode")]
    [InlineData("postgres://gantry:s3cret@db.example/fleet?Frobnicate=1", "frobnicate")]
    public void Validate_StoreMalformed_NamesTheSettingWithoutThePassword(string url, string problem)
    {
        var error = Assert.Throws<SettingException>(() => SettingsLoader.Check(new ServerOptions { Store = url }, ServerSettings.Validator));

        Assert.Equal("store", error.Setting);
        Assert.Contains(problem, error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("s3cret", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_StoreUnreachable_ConnectionErrorWithoutThePassword()
    {
        var port = Tools.FreePort();
        var dataDir = Directory.CreateTempSubdirectory("gantry-store-").FullName;
        var options = new ServerOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), DataDir = dataDir, Store = $"postgres://gantry:s3cret@127.0.0.1:{port}/fleet" };

        var error = Assert.Throws<StoreConnectionException>(() => ServerHost.Build(options));
        Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"postgres://gantry@127.0.0.1:{port}/fleet"), error.Address);
        Assert.DoesNotContain("s3cret", error.Message, StringComparison.Ordinal);
        Directory.Delete(dataDir, recursive: true);
    }

    [PostgresFact]
    public async Task Requests_DatabaseGone_503WithRetryAfterNothingStoredThenServedAgain()
    {
        await using var database = await PostgresDatabase.CreateAsync();
        // A long lease: the leader must not step down while the test holds the database away.
        await using var server = await ServerHarness.StartAsync(configure: o =>
        {
            o.Store = database.Url;
            o.LeaderLease = TimeSpan.FromSeconds(60);
        });
        var job = new JobSubmission { Command = ["true"] };
        var first = await server.SubmitAsync(job);

        await database.SetAcceptingConnectionsAsync(false);
        try
        {
            for (var i = 0; i < 3; i++)
            {
                using var refused = await server.Admin.PostAsJsonAsync("/api/v1/jobs", job, GantryJson.Default.JobSubmission);
                Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
                Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
                Assert.Equal(TimeSpan.FromSeconds(1), refused.Headers.RetryAfter?.Delta);
                var problem = await refused.Content.ReadAsStringAsync();
                Assert.Contains("store is unavailable", problem, StringComparison.Ordinal);
                Assert.DoesNotContain("Npgsql", problem, StringComparison.Ordinal);
            }
        }
        finally
        {
            await database.SetAcceptingConnectionsAsync(true);
        }

        // Nothing of the refused submissions was kept: the next job takes the next id.
        var next = await server.SubmitAsync(job);
        Assert.Equal(first[0] + 1, next[0]);
        Assert.Equal(2, server.Jobs.PendingCount());
    }

    [PostgresFact]
    public async Task Start_Postgres_StateInTheDatabaseTokensAndTelemetryInTheDataDir()
    {
        await using var database = await PostgresDatabase.CreateAsync();
        var dataDir = Directory.CreateTempSubdirectory("gantry-store-").FullName;
        string nodeId;
        await using (var server = await ServerHarness.StartAsync(dataDir: dataDir, configure: o => o.Store = database.Url))
        {
            Assert.StartsWith("PostgreSQL postgres://", server.App.Services.GetRequiredService<IStateStore>().Description, StringComparison.Ordinal);
            (nodeId, _) = await server.RegisterAsync("pg", 1);
        }

        Assert.True(File.Exists(Path.Combine(dataDir, "admin.token")));
        Assert.True(File.Exists(Path.Combine(dataDir, "join.token")));
        Assert.True(File.Exists(Path.Combine(dataDir, "telemetry.db")));
        Assert.False(File.Exists(Path.Combine(dataDir, "gantry.db")));

        // The same database and data dir again: the node is still there.
        await using var again = await ServerHarness.StartAsync(dataDir: dataDir, configure: o => o.Store = database.Url);
        Assert.Equal("pg", again.Nodes.GetNode(nodeId)!.Name);
    }
}
