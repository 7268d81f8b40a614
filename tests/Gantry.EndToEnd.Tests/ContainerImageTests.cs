using System.Net.Http.Headers;
using System.Text.Json;
using Gantry.Testing;

namespace Gantry.EndToEnd.Tests;

/// <summary>
/// deploy/container: the image is built by deploy/container/build.sh around the tests' own build of gantry and
/// run with podman: the server in one container, an agent joining it from another. No registry is reachable
/// here, so the base image (runtime-deps in a real build) is made from scratch out of this machine's glibc,
/// OpenSSL and .NET runtime (the tests' build is framework-dependent; the release build is NativeAOT and needs
/// only the libraries). Needs root, as the test command has in CI.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ContainerImageTests : IDisposable
{
    private readonly Podman _podman = new();
    private readonly List<string> _folders = [];

    public void Dispose()
    {
        _podman.Dispose();
        foreach (var folder in _folders)
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task Image_BuiltByTheScript_RunsTheServerAndAnAgentThatJoinsIt()
    {
        Assert.True(Environment.IsPrivilegedProcess, "podman runs as root here: run scripts/test.sh as root (CI does)");
        var baseImage = await _podman.BuildFromScratchAsync("localhost/" + Podman.UniqueName("gantry-test-base"), await StandInBaseAsync(), "ENV DOTNET_ROOT=/usr/share/dotnet\n");

        var tag = _podman.Owns("localhost/" + Podman.UniqueName("gantry-test"));
        var build = Path.Combine(Tools.RepositoryRoot, "deploy", "container", "build.sh");
        var (code, output) = await Tools.RunAsync(build, ["--binary-dir", Path.GetDirectoryName(GantryProcess.BinaryPath)!, "--tag", tag, "--base", baseImage, "--runtime", "podman"], _podman.Environment);
        Assert.True(code == 0, output);
        Assert.Contains(tag, output.Split('\n'));

        // The entry point is the binary; debug symbols stayed out.
        Assert.StartsWith("0.1.0", await _podman.CheckAsync("run", "--rm", tag, "--version"), StringComparison.Ordinal);
        var listing = await _podman.CheckAsync("run", "--rm", "--entrypoint", "/bin/sh", tag, "-c", "for f in /usr/lib/gantry/*; do echo $f; done");
        Assert.Contains("gantry", listing, StringComparison.Ordinal);
        Assert.DoesNotContain(".pdb", listing, StringComparison.Ordinal);

        // The server keeps its data where the image says (GANTRY_DATA_DIR, under the volume), here a folder of the test's.
        var serverPort = Tools.FreePort();
        var server = _podman.Owns(Podman.UniqueName("gantry-test-server"), container: true);
        var data = Folder("gantry-image-data-");
        await _podman.CheckAsync("run", "-d", "--name", server, "--network", "host", "-v", data + ":/var/lib/gantry/server", tag, "server", "--listen", $"127.0.0.1:{serverPort}");
        var url = $"http://127.0.0.1:{serverPort}";
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        await WaitForAsync(async () => (await http.GetAsync(url + "/healthz")).IsSuccessStatusCode, server, "the server in the container never answered /healthz");
        var admin = (await File.ReadAllTextAsync(Path.Combine(data, "admin.token"))).Trim();
        var join = (await File.ReadAllTextAsync(Path.Combine(data, "join.token"))).Trim();

        // An agent in a second container joins it with the join token from the environment.
        var agentPort = Tools.FreePort();
        var agent = _podman.Owns(Podman.UniqueName("gantry-test-agent"), container: true);
        await _podman.CheckAsync("run", "-d", "--name", agent, "--network", "host", "-e", "GANTRY_JOIN_TOKEN=" + join, "-e", "GANTRY_NODE_NAME=in-a-container",
            tag, "agent", "--server", url, "--listen", $"127.0.0.1:{agentPort}", "--simulate-gpus", "1");
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", admin);
        await WaitForAsync(
            async () =>
            {
                using var nodes = JsonDocument.Parse(await http.GetStringAsync(url + "/api/v1/nodes"));
                return nodes.RootElement.GetProperty("items").EnumerateArray().Any(n => n.GetProperty("name").GetString() == "in-a-container" && n.GetProperty("state").GetString() == "ready");
            },
            agent,
            "the agent in the container never became a ready node");
        Assert.Contains("state kept", await _podman.CheckAsync("exec", agent, "/bin/sh", "-c", "test -d /var/lib/gantry/agent && echo state kept"), StringComparison.Ordinal);
    }

    private async Task WaitForAsync(Func<Task<bool>> condition, string container, string message)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail(message + ":\n" + (await _podman.RunAsync("logs", container)).Output);
            }

            await Task.Delay(250);
        }
    }

    /// <summary>
    /// The files of a base image that runs the tests' framework-dependent build: the .NET runtime, every library
    /// it and the build link against (found with ldd), OpenSSL (loaded at run time), a shell and the users.
    /// </summary>
    private string Folder(string prefix)
    {
        var folder = Directory.CreateTempSubdirectory(prefix).FullName;
        _folders.Add(folder);
        return folder;
    }

    private async Task<Dictionary<string, string>> StandInBaseAsync()
    {
        var dotnet = "/usr/share/dotnet";
        var files = new Dictionary<string, string>
        {
            [dotnet + "/dotnet"] = dotnet + "/dotnet",
            [dotnet + "/host"] = dotnet + "/host",
            [dotnet + "/shared/Microsoft.NETCore.App"] = dotnet + "/shared/Microsoft.NETCore.App",
            [dotnet + "/shared/Microsoft.AspNetCore.App"] = dotnet + "/shared/Microsoft.AspNetCore.App",
            ["/bin/sh"] = Tools.Require("busybox", "busybox-static"),
        };
        var binaries = Directory.EnumerateFiles(dotnet + "/shared", "*.so", SearchOption.AllDirectories)
            .Concat(Directory.EnumerateFiles(dotnet + "/host", "*.so", SearchOption.AllDirectories))
            .Concat(Directory.EnumerateFiles(Path.GetDirectoryName(GantryProcess.BinaryPath)!, "*.so"))
            .Append(GantryProcess.BinaryPath)
            .ToList();
        var (_, cache) = await Tools.RunAsync("ldconfig", ["-p"]);
        binaries.AddRange(cache.Split('\n')
            .Where(l => l.Contains("x86-64", StringComparison.Ordinal) && (l.Contains("libssl.so.3 ", StringComparison.Ordinal) || l.Contains("libcrypto.so.3 ", StringComparison.Ordinal)))
            .Select(l => l[(l.LastIndexOf("=> ", StringComparison.Ordinal) + 3)..].Trim()));
        foreach (var binary in binaries)
        {
            files.TryAdd(binary, binary);
            var (_, ldd) = await Tools.RunAsync("ldd", [binary]);
            foreach (var line in ldd.Split('\n'))
            {
                var path = line.Contains("=> ", StringComparison.Ordinal) ? line[(line.IndexOf("=> ", StringComparison.Ordinal) + 3)..] : line.Trim();
                path = path.Split(' ')[0].Trim();
                if (path.StartsWith('/') && File.Exists(path))
                {
                    files.TryAdd(path, path);
                }
            }
        }

        var etc = Folder("gantry-base-etc-");
        await File.WriteAllTextAsync(Path.Combine(etc, "passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n");
        await File.WriteAllTextAsync(Path.Combine(etc, "group"), "root:x:0:\nnogroup:x:65534:\n");
        var tmp = Directory.CreateDirectory(Path.Combine(etc, "tmp")).FullName;
        File.SetUnixFileMode(tmp, (UnixFileMode)Convert.ToInt32("1777", 8));
        files["/etc/passwd"] = Path.Combine(etc, "passwd");
        files["/etc/group"] = Path.Combine(etc, "group");
        files["/tmp"] = tmp;
        return files;
    }
}
