using System.Diagnostics.CodeAnalysis;
using Gantry.Core.Protocol;

namespace Gantry.Agent.Jobs;

/// <summary>
/// Which Unix user an attempt runs as (docs/jobs-as-owners.md). An agent running as root runs it
/// as <see cref="Assignment.RunAsUser"/>, never as uid 0 unless <see cref="Assignment.AllowRoot"/>,
/// and as <c>nobody</c> when the token names no user; an agent running as anyone else runs every
/// attempt as itself.
/// </summary>
internal sealed class JobUsers
{
    /// <summary>Who an attempt runs as when its token names no Unix user and may not run as root.</summary>
    public const string NobodyUser = "nobody";

    private readonly Func<string, UnixUser?> _lookup;
    private readonly string _nodeName;

    /// <param name="nodeName">The node's name, for the reasons an attempt is refused.</param>
    /// <param name="agentUid">The agent's effective uid.</param>
    /// <param name="agentName">The agent's user name.</param>
    /// <param name="lookup">Finds a user by name (null when the node has none).</param>
    public JobUsers(string nodeName, uint agentUid, string agentName, Func<string, UnixUser?> lookup)
    {
        ArgumentNullException.ThrowIfNull(nodeName);
        ArgumentNullException.ThrowIfNull(agentName);
        ArgumentNullException.ThrowIfNull(lookup);
        _nodeName = nodeName;
        _lookup = lookup;
        AgentUid = agentUid;
        AgentName = agentName;
    }

    /// <summary>The agent's effective uid.</summary>
    public uint AgentUid { get; }

    /// <summary>The agent's user name.</summary>
    public string AgentName { get; }

    /// <summary>True when the agent can start attempts as other users (it runs as root).</summary>
    public bool SwitchesUsers => AgentUid == 0;

    /// <summary>The node label the agent reports <see cref="Fact"/> as (with the operator's <c>--labels</c>).</summary>
    public const string FactLabel = "gantry.io/job-user";

    /// <summary>
    /// Whom this node's jobs run as, a label value: <c>owner</c> when as their owners, <c>agent.NAME</c>
    /// when as the agent's user NAME (<c>agent</c> alone for a name no label value can hold).
    /// </summary>
    public string Fact => SwitchesUsers ? "owner"
        : AgentName.Length <= 56 && AgentName.All(static c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-') ? "agent." + AgentName
        : "agent";

    /// <summary>The node's name.</summary>
    public string NodeName => _nodeName;

    /// <summary>
    /// The users of this machine and the agent's own identity. Only Linux switches users (through
    /// util-linux <c>setpriv</c>); elsewhere jobs run as the agent.
    /// </summary>
    public static JobUsers ForThisMachine(string nodeName) =>
        OperatingSystem.IsLinux()
            ? new JobUsers(nodeName, UnixUsers.EffectiveUid, Environment.UserName, UnixUsers.Find)
            : new JobUsers(nodeName, uint.MaxValue, Environment.UserName, static _ => null);

    /// <summary>
    /// Whom <paramref name="assignment"/> runs as: <paramref name="user"/> is null to start it as the
    /// agent itself. False, with the reason in <paramref name="refusal"/>, when it may not run on this node.
    /// </summary>
    public bool TryResolve(Assignment assignment, out UnixUser? user, [NotNullWhen(false)] out string? refusal)
    {
        ArgumentNullException.ThrowIfNull(assignment);
        user = null;
        refusal = null;
        if (!SwitchesUsers)
        {
            return true;
        }

        if (assignment.RunAsUser is not { } name)
        {
            // Today's behaviour for a token allowed root; every other token is kept off uid 0.
            if (assignment.AllowRoot)
            {
                return true;
            }

            user = Find(NobodyUser, ref refusal);
            refusal ??= user is null
                ? $"the job's token names no Unix user and may not run as root, and node {_nodeName} has no user '{NobodyUser}' to run it as"
                : null;
            return refusal is null;
        }

        user = name.Length == 0 ? null : Find(name, ref refusal);
        if (refusal is not null)
        {
            return false;
        }

        if (user is null)
        {
            refusal = $"no user '{name}' on node {_nodeName}: the job's token runs its jobs as '{name}'";
            return false;
        }

        if (user.Uid == 0 && !assignment.AllowRoot)
        {
            refusal = $"user '{name}' is root (uid 0) on node {_nodeName}, and the job's token may not run jobs as root (gantry tokens create --allow-root)";
            user = null;
            return false;
        }

        return true;
    }

    private UnixUser? Find(string name, ref string? refusal)
    {
        try
        {
            return _lookup(name);
        }
        catch (IOException ex)
        {
            refusal = $"{ex.Message} on node {_nodeName}";
            return null;
        }
    }
}
