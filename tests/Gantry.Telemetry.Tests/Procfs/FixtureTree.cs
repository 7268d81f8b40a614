using Gantry.Telemetry.Collection;

namespace Gantry.Telemetry.Tests.Procfs;

/// <summary>A small <c>/proc</c> + <c>/sys</c> tree in a temp directory, deleted on dispose.</summary>
internal sealed class FixtureTree : IDisposable
{
    public FixtureTree()
    {
        Root = Directory.CreateTempSubdirectory("gantry-host-").FullName;
        Directory.CreateDirectory(Path.Combine(Root, "proc"));
        Directory.CreateDirectory(Path.Combine(Root, "sys"));
        Paths = new HostPaths(Path.Combine(Root, "proc"), Path.Combine(Root, "sys"));
    }

    public string Root { get; }

    public HostPaths Paths { get; }

    /// <summary>Writes <paramref name="content"/> at <c>proc/…</c> or <c>sys/…</c>, creating folders.</summary>
    public FixtureTree Write(string relativePath, string content)
    {
        var path = Path.Combine(Root, relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        return this;
    }

    /// <summary>Links <paramref name="relativeLink"/> to the directory <paramref name="relativeTarget"/>, as sysfs class folders are.</summary>
    public FixtureTree Link(string relativeLink, string relativeTarget)
    {
        var link = Path.Combine(Root, relativeLink);
        var target = Path.Combine(Root, relativeTarget);
        Directory.CreateDirectory(target);
        Directory.CreateDirectory(Path.GetDirectoryName(link)!);
        Directory.CreateSymbolicLink(link, target);
        return this;
    }

    public string PathOf(string relativePath) => Path.Combine(Root, relativePath);

    public void Dispose() => Directory.Delete(Root, recursive: true);
}
