namespace Gantry.Testing;

/// <summary>
/// podman as the tests drive it: as root, with runc and cgroupfs (this machine's cgroup v1 hybrid mode
/// refuses crun and systemd's cgroup manager), set through a containers.conf of the test's own so that
/// scripts the tests run (deploy/container/build.sh) use the same settings. No registry is reachable:
/// images are built locally, from <c>scratch</c> up.
/// </summary>
public sealed class Podman : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gantry-podman-").FullName;
    private readonly List<string> _images = [];
    private readonly List<string> _containers = [];

    public Podman()
    {
        Program = Tools.Require("podman", "podman");
        Tools.Require("runc", "runc");
        var conf = Path.Combine(_dir, "containers.conf");
        File.WriteAllText(conf, """
            [containers]
            default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

            [engine]
            runtime = "runc"
            cgroup_manager = "cgroupfs"
            events_logger = "file"
            """);
        Environment = new Dictionary<string, string> { ["CONTAINERS_CONF"] = conf };
    }

    /// <summary>The podman binary.</summary>
    public string Program { get; }

    /// <summary>The environment that points podman at the test's containers.conf; give it to scripts that call podman.</summary>
    public IReadOnlyDictionary<string, string> Environment { get; }

    /// <summary>A unique name for an image or container of this test; removed at dispose when registered with <see cref="Owns"/>.</summary>
    public static string UniqueName(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)];

    /// <summary>Runs podman to its end: exit code and output.</summary>
    public Task<(int Code, string Output)> RunAsync(params string[] arguments) =>
        Tools.RunAsync(Program, arguments, Environment, TimeSpan.FromMinutes(3));

    /// <summary>Runs podman and fails the test with its output when it does not exit 0; returns stdout and stderr.</summary>
    public async Task<string> CheckAsync(params string[] arguments)
    {
        var (code, output) = await RunAsync(arguments).ConfigureAwait(false);
        return code == 0 ? output : throw new InvalidOperationException($"podman {string.Join(' ', arguments)} exited {code}:\n{output}");
    }

    /// <summary>Removes the image (and with <paramref name="container"/> the container) of this name at dispose.</summary>
    public string Owns(string name, bool container = false)
    {
        (container ? _containers : _images).Add(name);
        return name;
    }

    /// <summary>
    /// Builds an image from <c>scratch</c> holding <paramref name="files"/> (path in the image → path here;
    /// a folder is copied whole), with <paramref name="containerfileTail"/> after the COPY (ENV, ENTRYPOINT…).
    /// </summary>
    public async Task<string> BuildFromScratchAsync(string tag, IReadOnlyDictionary<string, string> files, string containerfileTail = "")
    {
        var context = Directory.CreateTempSubdirectory("gantry-image-").FullName;
        try
        {
            var root = Path.Combine(context, "root");
            foreach (var (inImage, here) in files)
            {
                var target = Path.Combine(root, inImage.TrimStart('/'));
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                var (code, output) = await Tools.RunAsync("cp", ["-a", "-L", "-T", here, target]).ConfigureAwait(false);
                if (code != 0)
                {
                    throw new InvalidOperationException($"cp {here} {target}: {output}");
                }
            }

            await File.WriteAllTextAsync(Path.Combine(context, "Containerfile"), "FROM scratch\nCOPY root/ /\n" + containerfileTail).ConfigureAwait(false);
            await CheckAsync("build", "-q", "-t", Owns(tag), context).ConfigureAwait(false);
            return tag;
        }
        finally
        {
            Directory.Delete(context, recursive: true);
        }
    }

    public void Dispose()
    {
        foreach (var container in _containers)
        {
            RunAsync("rm", "-f", "-t", "0", container).GetAwaiter().GetResult();
        }

        foreach (var image in _images)
        {
            RunAsync("rmi", "-f", image).GetAwaiter().GetResult();
        }

        Directory.Delete(_dir, recursive: true);
    }
}
