using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Gantry.Testing;

namespace Gantry.EndToEnd.Tests;

/// <summary>
/// deploy/systemd: the units pass <c>systemd-analyze verify</c>, and the real binary speaks systemd's notify
/// protocol. systemd itself is not PID 1 here, so the test stands in for it at the process boundary: it binds
/// the notify socket, and starts <c>gantry</c> under a shell named <c>systemd</c> (the library recognises a
/// systemd service by its parent's name), with <c>NOTIFY_SOCKET</c> and <c>WATCHDOG_USEC</c> set as systemd sets them.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class SystemdTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gantry-systemd-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("gantry-server.service")]
    [InlineData("gantry-agent.service")]
    public async Task Unit_PassesSystemdAnalyzeVerify(string unit)
    {
        var analyze = Tools.Require("systemd-analyze", "systemd");
        var text = await File.ReadAllTextAsync(Path.Combine(Tools.RepositoryRoot, "deploy", "systemd", unit));
        Assert.Contains("Type=notify", text, StringComparison.Ordinal);
        Assert.Contains("WatchdogSec=", text, StringComparison.Ordinal);

        // verify checks that ExecStart's program exists: point it at the built binary.
        var copy = Path.Combine(_dir, unit);
        await File.WriteAllTextAsync(copy, text.Replace("/usr/bin/gantry", GantryProcess.BinaryPath, StringComparison.Ordinal));
        var (code, output) = await RunAsync(analyze, "verify", "--man=no", copy);
        Assert.True(code == 0 && output.Trim().Length == 0, $"systemd-analyze verify {unit}: exit {code}\n{output}");
    }

    [Theory]
    [InlineData("server")]
    [InlineData("agent")]
    public async Task UnderSystemd_NotifiesReadyPingsTheWatchdogAndNotifiesStopping(string command)
    {
        var socketPath = Path.Combine(_dir, "notify.sock");
        using var notify = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        notify.Bind(new UnixDomainSocketEndPoint(socketPath));
        var messages = new List<string>();
        var reader = Task.Run(async () =>
        {
            var buffer = new byte[4096];
            while (true)
            {
                int n;
                try
                {
                    n = await notify.ReceiveAsync(buffer, SocketFlags.None);
                }
                catch (Exception e) when (e is ObjectDisposedException or SocketException)
                {
                    return;
                }

                lock (messages)
                {
                    messages.AddRange(Encoding.UTF8.GetString(buffer, 0, n).Split('\n', StringSplitOptions.RemoveEmptyEntries));
                }
            }
        });

        // A shell named systemd as the parent; it runs gantry as a child (not exec: the command is not its last).
        var systemd = Path.Combine(_dir, "systemd");
        File.Copy("/bin/sh", systemd);
        var arguments = command == "server"
            ? new[] { "server", "--listen", "127.0.0.1:0", "--data-dir", Path.Combine(_dir, "data"), "--join-token", "systemd-test-join-token-0123456789" }
            : new[] { "agent", "--listen", "127.0.0.1:0", "--simulate-gpus", "1", "--no-nvml", "--state-dir", Path.Combine(_dir, "state"), "--kernel-log", "off" };
        var info = new ProcessStartInfo(systemd) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add("\"$0\" \"$@\"; status=$?; exit $status");
        info.ArgumentList.Add(GantryProcess.BinaryPath);
        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }

        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("GANTRY_", StringComparison.Ordinal)).ToList())
        {
            info.Environment.Remove(key);
        }

        info.Environment["NOTIFY_SOCKET"] = socketPath;
        info.Environment["WATCHDOG_USEC"] = "400000";
        using var shell = Process.Start(info)!;
        var output = new StringBuilder();
        shell.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        shell.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        shell.BeginOutputReadLine();
        shell.BeginErrorReadLine();
        try
        {
            await UntilAsync(() => Count(messages, "READY=1") == 1, "READY=1", shell, output);

            // The watchdog is pinged at half of WATCHDOG_USEC (0.2 s): several pings within two seconds.
            var pings = Count(messages, "WATCHDOG=1");
            await UntilAsync(() => Count(messages, "WATCHDOG=1") >= pings + 3, "three more WATCHDOG=1", shell, output);

            var gantry = int.Parse(File.ReadAllText($"/proc/{shell.Id}/task/{shell.Id}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries).Single(), System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(0, kill(gantry, 15));
            await UntilAsync(() => Count(messages, "STOPPING=1") == 1, "STOPPING=1", shell, output);
            using var exit = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            await shell.WaitForExitAsync(exit.Token);
            Assert.Equal(0, shell.ExitCode);
            lock (messages)
            {
                Assert.True(messages.IndexOf("READY=1") < messages.IndexOf("STOPPING=1"), string.Join(", ", messages));
            }
        }
        finally
        {
            if (!shell.HasExited)
            {
                shell.Kill(entireProcessTree: true);
            }

            notify.Dispose();
            await reader;
        }
    }

    private static int Count(List<string> messages, string message)
    {
        lock (messages)
        {
            return messages.Count(m => m == message);
        }
    }

    private static async Task UntilAsync(Func<bool> condition, string what, Process process, StringBuilder output)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline || process.HasExited)
            {
                lock (output)
                {
                    Assert.Fail($"no {what} from gantry (exited: {process.HasExited}). Output:\n{output}");
                }
            }

            await Task.Delay(50);
        }
    }

    private static Task<(int Code, string Output)> RunAsync(string program, params string[] arguments) => Tools.RunAsync(program, arguments);

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}
