using Gantry.Agent.Jobs;
using Gantry.Core.Protocol;

namespace Gantry.Agent.Tests.Jobs;

/// <summary>Whom an attempt runs as (docs/jobs-as-owners.md), against a made-up user database.</summary>
public sealed class JobUsersTests
{
    private static readonly UnixUser Alice = new("alice", 1001, 1001, [1001, 27], "/home/alice");
    private static readonly UnixUser Root = new("root", 0, 0, [0], "/root");
    private static readonly UnixUser Nobody = new("nobody", 65534, 65534, [65534], "/nonexistent");

    private static JobUsers AsRoot(params UnixUser[] users) =>
        new("gpu-07", 0, "root", name => users.FirstOrDefault(u => u.Name == name));

    private static Assignment Job(string? user, bool allowRoot = false) => new()
    {
        JobId = 1,
        Attempt = 1,
        Epoch = 1,
        Action = AssignmentAction.Run,
        Command = ["true"],
        Gpus = [],
        Cpus = 1,
        MemoryBytes = 1,
        KillGraceSeconds = 1,
        RunAsUser = user,
        AllowRoot = allowRoot,
    };

    [Theory]
    [InlineData("alice", false, "alice")]
    [InlineData("alice", true, "alice")]
    [InlineData("root", true, "root")]
    [InlineData(null, false, "nobody")]
    public void TryResolve_RootAgent_RunsAsTheUserTheTableSays(string? runAs, bool allowRoot, string expected)
    {
        Assert.True(AsRoot(Alice, Root, Nobody).TryResolve(Job(runAs, allowRoot), out var user, out var refusal));
        Assert.Null(refusal);
        Assert.Equal(expected, user?.Name);
    }

    [Fact]
    public void TryResolve_RootAgentNoUserAllowedRoot_RunsAsTheAgentItself()
    {
        Assert.True(AsRoot(Alice, Root, Nobody).TryResolve(Job(null, allowRoot: true), out var user, out _));
        Assert.Null(user);
    }

    [Fact]
    public void TryResolve_RootWithoutAllowRoot_RefusedWithReason()
    {
        Assert.False(AsRoot(Alice, Root, Nobody).TryResolve(Job("root"), out var user, out var refusal));
        Assert.Null(user);
        Assert.Equal("user 'root' is root (uid 0) on node gpu-07, and the job's token may not run jobs as root (gantry tokens create --allow-root)", refusal);
    }

    [Fact]
    public void TryResolve_AnotherNameForUidZero_RefusedWithoutAllowRoot()
    {
        var toor = Root with { Name = "toor" };
        Assert.False(AsRoot(toor).TryResolve(Job("toor"), out _, out var refusal));
        Assert.Contains("uid 0", refusal, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ghost")]
    [InlineData("")]
    public void TryResolve_UnknownUser_RefusedNamingUserAndNode(string name)
    {
        Assert.False(AsRoot(Alice).TryResolve(Job(name), out _, out var refusal));
        Assert.Equal($"no user '{name}' on node gpu-07: the job's token runs its jobs as '{name}'", refusal);
    }

    [Fact]
    public void TryResolve_NoUserAndNoNobody_RefusedRatherThanRoot()
    {
        Assert.False(AsRoot(Alice).TryResolve(Job(null), out var user, out var refusal));
        Assert.Null(user);
        Assert.Contains("no user 'nobody'", refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void TryResolve_UserDatabaseFails_RefusedWithTheError()
    {
        var users = new JobUsers("gpu-07", 0, "root", _ => throw new IOException("cannot look up user 'alice': Connection refused"));
        Assert.False(users.TryResolve(Job("alice"), out _, out var refusal));
        Assert.Equal("cannot look up user 'alice': Connection refused on node gpu-07", refusal);
    }

    [Theory]
    [InlineData("alice", false)]
    [InlineData("root", false)]
    [InlineData(null, false)]
    [InlineData("ghost", true)]
    public void TryResolve_AgentNotRoot_RunsEveryJobAsItself(string? runAs, bool allowRoot)
    {
        var users = new JobUsers("gpu-07", 1000, "gantry", _ => throw new InvalidOperationException("a non-root agent looks no user up"));
        Assert.True(users.TryResolve(Job(runAs, allowRoot), out var user, out _));
        Assert.Null(user);
        Assert.False(users.SwitchesUsers);
        Assert.Equal("agent.gantry", users.Fact);
    }

    [Fact]
    public void Fact_RootAgent_IsOwner() => Assert.Equal("owner", AsRoot().Fact);

    [Fact]
    public void Fact_AgentNameNoLabelValueHolds_IsAgentAlone() =>
        Assert.Equal("agent", new JobUsers("gpu-07", 1000, "DOMAIN\\svc gantry", static _ => null).Fact);

    [Fact]
    public void Find_Root_HasUidZeroAndItsHome()
    {
        var root = UnixUsers.Find("root");
        Assert.NotNull(root);
        Assert.Equal(0u, root.Uid);
        Assert.Equal(0u, root.Gid);
        Assert.Contains(0u, root.Groups);
        Assert.Equal("/root", root.Home);
    }

    [Fact]
    public void Find_NoSuchUser_IsNull() => Assert.Null(UnixUsers.Find("gantry-no-such-user"));
}
