using System.CommandLine;
using System.Diagnostics;
using System.Text;
using Gantry.Agent.Configuration;
using Gantry.Hosting.Settings;
using Gantry.Server.Configuration;

namespace Gantry.Commands;

/// <summary>
/// <c>gantry install agent|server</c> and <c>gantry uninstall agent|server</c>: the systemd unit of
/// deploy/systemd (carried inside the binary) and an environment file of the settings given, then
/// <c>systemctl enable --now</c>; or, with <c>--root DIR</c>, the same files into an image's tree and
/// <c>systemctl --root DIR enable</c>. The settings are the agent's or the server's own flags, checked by
/// the same code as <c>gantry agent</c> and <c>gantry server</c> before anything is written (docs/deploy.md).
/// </summary>
internal static class InstallCommand
{
    /// <summary>What <c>gantry --help</c> says <c>install</c> does.</summary>
    public const string Description = "Install the agent or the server as a systemd service: its unit, its settings, enabled and started.";

    /// <summary>What <c>gantry --help</c> says <c>uninstall</c> does.</summary>
    public const string UninstallDescription = "Stop and remove the agent's or the server's systemd service (its settings and state stay unless --purge).";

    private const string UnitDirectory = "etc/systemd/system";
    private const string SettingsDirectory = "etc/gantry";
    private const string ServiceUser = "gantry";

    /// <summary>The two services: the unit's name, the env file's, the directory the unit's StateDirectory= makes.</summary>
    private sealed record Role(string Name, string Unit, string EnvFile, string StateDirectory, string StateSetting);

    private static readonly Role AgentRole = new("agent", "gantry-agent.service", "agent.env", "var/lib/gantry-agent", "state-dir");
    private static readonly Role ServerRole = new("server", "gantry-server.service", "server.env", "var/lib/gantry", "data-dir");

    public static Command Create()
    {
        var install = new Command("install", Description + """


            Writes /etc/systemd/system/gantry-ROLE.service (deploy/systemd's unit, running this binary) and
            /etc/gantry/ROLE.env (the settings given, as GANTRY_* variables; file paths made absolute), creates
            the 'gantry' system user for the server, then runs systemctl daemon-reload and
            systemctl enable --now. The settings are checked as 'gantry agent' and 'gantry server' check them,
            before anything is written; the state directory is the unit's (StateDirectory=).
              gantry install agent --server https://cp1:7070 --join-token-file /etc/gantry/join-token --ca-cert-hash sha256:... --labels zone=a
              gantry install server --listen :7070 --tls auto --dry-run
            Exit code 0; 2 for a bad setting; 1 when not root, systemd is not running, or a step fails (the steps
            done so far are listed).
            """);
        install.Subcommands.Add(CreateInstall(AgentRole, c => AgentFlags(c)));
        install.Subcommands.Add(CreateInstall(ServerRole, c => ServerFlags(c)));
        return install;
    }

    public static Command CreateUninstall()
    {
        var uninstall = new Command("uninstall", UninstallDescription);
        uninstall.Subcommands.Add(CreateUninstall(AgentRole));
        uninstall.Subcommands.Add(CreateUninstall(ServerRole));
        return uninstall;
    }

    private static SettingFlags AgentFlags(Command command)
    {
        var flags = new SettingFlags();
        flags.AddAll(command, AgentSettings.All.Where(s => s.Name != AgentRole.StateSetting));
        return flags;
    }

    private static SettingFlags ServerFlags(Command command)
    {
        var flags = new SettingFlags();
        flags.AddAll(command, ServerSettings.All.Where(s => s.Name != ServerRole.StateSetting));
        return flags;
    }

    private sealed record Common(Option<bool> DryRun, Option<string> Root)
    {
        public static Common AddTo(Command command)
        {
            var dryRun = new Option<bool>("--dry-run") { Description = "Print each file and command it would write or run, and change nothing." };
            var root = new Option<string>("--root")
            {
                Description = "Write into this directory tree (an image being built) instead of /, and only enable the unit there (systemctl --root); nothing is started.",
                HelpName = "DIR",
            };
            command.Options.Add(dryRun);
            command.Options.Add(root);
            return new Common(dryRun, root);
        }
    }

    private static Command CreateInstall(Role role, Func<Command, SettingFlags> addFlags)
    {
        var command = new Command(role.Name, $"Install 'gantry {role.Name}' as {role.Unit}, with these settings. Every 'gantry {role.Name}' setting is accepted but --{role.StateSetting} (the unit's StateDirectory= is used).");
        var config = SettingFlags.ConfigOption(role == AgentRole ? "{\"labels\": {\"zone\": \"a\"}}" : "{\"downAfter\": \"30s\"}");
        command.Options.Add(config);
        var flags = addFlags(command);
        var common = Common.AddTo(command);
        var noStart = new Option<bool>("--no-start") { Description = "Enable the unit but do not start it now." };
        command.Options.Add(noStart);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var given = flags.Given(parseResult).ToList();
            var configFile = parseResult.GetValue(config) is { } file ? Path.GetFullPath(file) : null;
            try
            {
                // The service's own checks, on exactly what its env file will say (no environment of the installer's).
                var empty = new Dictionary<string, string>();
                if (role == AgentRole)
                {
                    await AgentSettings.LoadAsync(given, configFile, empty, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await ServerSettings.LoadAsync(given, configFile, empty, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (SettingException ex)
            {
                await ex.WriteToAsync(Console.Error, $"gantry install {role.Name}").ConfigureAwait(false);
                return GantryCli.UsageError;
            }

            var env = EnvironmentFile(given, configFile, flags.PathSettings);
            var steps = new Steps(parseResult.GetValue(common.DryRun), parseResult.GetValue(common.Root));
            if (steps.Check() is { } problem)
            {
                await Console.Error.WriteLineAsync($"gantry install {role.Name}: {problem}").ConfigureAwait(false);
                return 1;
            }

            var binary = Environment.ProcessPath ?? "/usr/bin/gantry";
            var unit = UnitText(role.Unit).Replace("/usr/bin/gantry", binary, StringComparison.Ordinal);
            steps.WriteFile(Path.Combine(UnitDirectory, role.Unit), unit, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            if (role == ServerRole)
            {
                await steps.EnsureUserAsync(ServiceUser).ConfigureAwait(false);
            }

            // The settings may hold a token: readable by root (the agent) or root and the gantry group (the server).
            var envPath = Path.Combine(SettingsDirectory, role.EnvFile);
            steps.WriteFile(envPath, env, role == ServerRole ? UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead : UnixFileMode.UserRead | UnixFileMode.UserWrite);
            if (role == ServerRole && steps.Root is null)
            {
                await steps.RunAsync("chgrp", ServiceUser, steps.Full(envPath)).ConfigureAwait(false);
            }
            if (steps.Root is null)
            {
                await steps.RunAsync("systemctl", "daemon-reload").ConfigureAwait(false);
                await steps.RunAsync("systemctl", parseResult.GetValue(noStart) ? ["enable", role.Unit] : ["enable", "--now", role.Unit]).ConfigureAwait(false);
            }
            else
            {
                await steps.RunAsync("systemctl", "--root=" + steps.Root, "enable", role.Unit).ConfigureAwait(false);
            }

            return await steps.FinishAsync(
                $"gantry install {role.Name}",
                steps.Root is not null || parseResult.GetValue(noStart) ? $"{role.Unit} is installed and enabled." : $"{role.Unit} is running: systemctl status {role.Unit}, journalctl -u {role.Unit}.").ConfigureAwait(false);
        });
        return command;
    }

    private static Command CreateUninstall(Role role)
    {
        var command = new Command(role.Name, $"Stop, disable and remove {role.Unit}. /etc/gantry/{role.EnvFile} and /{role.StateDirectory} stay unless --purge.");
        var common = Common.AddTo(command);
        var purge = new Option<bool>("--purge") { Description = $"Also delete /etc/gantry/{role.EnvFile} and the state directory /{role.StateDirectory} (for the server: its database and tokens)." };
        command.Options.Add(purge);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var steps = new Steps(parseResult.GetValue(common.DryRun), parseResult.GetValue(common.Root));
            if (steps.Check() is { } problem)
            {
                await Console.Error.WriteLineAsync($"gantry uninstall {role.Name}: {problem}").ConfigureAwait(false);
                return 1;
            }

            var unitPath = Path.Combine(UnitDirectory, role.Unit);
            if (!steps.Exists(unitPath))
            {
                await Console.Error.WriteLineAsync($"gantry uninstall {role.Name}: {role.Unit} is not installed ({steps.Full(unitPath)} does not exist).").ConfigureAwait(false);
                return 1;
            }

            await (steps.Root is null
                ? steps.RunAsync("systemctl", "disable", "--now", role.Unit)
                : steps.RunAsync("systemctl", "--root=" + steps.Root, "disable", role.Unit)).ConfigureAwait(false);
            steps.Delete(unitPath);
            if (parseResult.GetValue(purge))
            {
                steps.Delete(Path.Combine(SettingsDirectory, role.EnvFile));
                steps.Delete(role.StateDirectory);
            }

            if (steps.Root is null)
            {
                await steps.RunAsync("systemctl", "daemon-reload").ConfigureAwait(false);
            }

            return await steps.FinishAsync($"gantry uninstall {role.Name}", $"{role.Unit} is removed.").ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>
    /// The env file: one <c>GANTRY_NAME="value"</c> line per setting given (a list's values joined by commas, as
    /// its variable takes them), paths made absolute (the service runs in /), quoted for systemd.
    /// </summary>
    internal static string EnvironmentFile(IEnumerable<KeyValuePair<string, string>> given, string? configFile, IReadOnlySet<string> pathSettings)
    {
        var text = new StringBuilder("# Written by gantry install; settings as GANTRY_* variables (gantry agent|server --help).\n");
        if (configFile is not null)
        {
            text.Append(SettingNames.EnvironmentName("config")).Append('=').Append(Quote(configFile)).Append('\n');
        }

        foreach (var group in given.GroupBy(g => g.Key, StringComparer.Ordinal))
        {
            var value = string.Join(',', group.Select(g => pathSettings.Contains(group.Key) && g.Value is { Length: > 0 } v && v != "off" ? Path.GetFullPath(v) : g.Value));
            text.Append(SettingNames.EnvironmentName(group.Key)).Append('=').Append(Quote(value)).Append('\n');
        }

        return text.ToString();
    }

    /// <summary>A value in double quotes, with backslashes and quotes escaped: systemd's EnvironmentFile= syntax.</summary>
    private static string Quote(string value) => "\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    /// <summary>deploy/systemd's unit, carried in the binary as a resource.</summary>
    internal static string UnitText(string unit)
    {
        using var stream = typeof(InstallCommand).Assembly.GetManifestResourceStream("systemd/" + unit)
            ?? throw new InvalidOperationException($"the binary carries no unit {unit}");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    /// <summary>
    /// The steps of an install or uninstall, done in order (or, dry, only printed), each said on stdout as
    /// it is done; the first that fails stops the rest.
    /// </summary>
    private sealed class Steps(bool dryRun, string? root)
    {
        private readonly List<string> _done = [];
        private string? _failed;

        /// <summary>The tree written into; null for the running system.</summary>
        public string? Root { get; } = root is null ? null : Path.GetFullPath(root);

        public string Full(string relative) => Path.Combine(Root ?? "/", relative);

        public bool Exists(string relative) => File.Exists(Full(relative)) || Directory.Exists(Full(relative));

        /// <summary>Why nothing can be done here, or null: root and a running systemd are needed for the running system.</summary>
        public string? Check()
        {
            if (dryRun)
            {
                return null;
            }

            if (!OperatingSystem.IsLinux())
            {
                return "systemd services exist on Linux only.";
            }

            if (Root is not null)
            {
                return Directory.Exists(Root) ? Which("systemctl") : $"--root: {Root} is not a directory.";
            }

            if (!Environment.IsPrivilegedProcess)
            {
                return "this needs root: run it with sudo (or --dry-run to see what it would do).";
            }

            return !Directory.Exists("/run/systemd/system")
                ? "systemd is not running on this machine (no /run/systemd/system): start gantry another way, or use --root DIR to install into an image's tree."
                : Which("systemctl");
        }

        private static string? Which(string program) =>
            (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => d.Length > 0 && File.Exists(Path.Combine(d, program)))
                ? null
                : $"{program} is not installed.";

        public void WriteFile(string relative, string content, UnixFileMode mode)
        {
            var path = Full(relative);
            if (_failed is not null)
            {
                return;
            }

            if (dryRun)
            {
                Console.Out.Write($"would write {path} (mode {Convert.ToString((int)mode, 8)}):\n{Indent(content)}");
                return;
            }

            try
            {
                var existed = File.Exists(path);
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.WriteAllText(path, "");
                if (OperatingSystem.IsLinux())
                {
                    File.SetUnixFileMode(path, mode);
                }

                File.WriteAllText(path, content);

                Say(existed ? $"replaced {path}" : $"wrote {path}");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _failed = $"writing {path}: {e.Message}";
            }
        }

        public void Delete(string relative)
        {
            var path = Full(relative);
            if (_failed is not null || !Exists(relative))
            {
                return;
            }

            if (dryRun)
            {
                Console.Out.WriteLine($"would delete {path}");
                return;
            }

            try
            {
                if (Directory.Exists(path))
                {
                    Directory.Delete(path, recursive: true);
                }
                else
                {
                    File.Delete(path);
                }

                Say($"deleted {path}");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _failed = $"deleting {path}: {e.Message}";
            }
        }

        /// <summary>Creates the service's system user when it does not exist (in the tree, when it has an /etc/passwd).</summary>
        public async Task EnsureUserAsync(string user)
        {
            var passwd = Full("etc/passwd");
            if (_failed is not null)
            {
                return;
            }

            if (File.Exists(passwd) && File.ReadLines(passwd).Any(l => l.StartsWith(user + ":", StringComparison.Ordinal)))
            {
                Say($"user {user} exists");
                return;
            }

            if (Root is not null && !File.Exists(passwd))
            {
                Say($"skipped creating user {user}: {Root} has no etc/passwd (the image must create it: useradd --system {user})");
                return;
            }

            string[] arguments = ["--system", "--home-dir", "/var/lib/gantry", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", user];
            await RunAsync("useradd", Root is null ? arguments : ["--root", Root, .. arguments]).ConfigureAwait(false);
        }

        public async Task RunAsync(string program, params string[] arguments)
        {
            if (_failed is not null)
            {
                return;
            }

            var line = program + " " + string.Join(' ', arguments);
            if (dryRun)
            {
                Console.Out.WriteLine("would run " + line);
                return;
            }

            var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in arguments)
            {
                info.ArgumentList.Add(a);
            }

            try
            {
                using var process = Process.Start(info)!;
                var stdout = process.StandardOutput.ReadToEndAsync();
                var stderr = process.StandardError.ReadToEndAsync();
                await process.WaitForExitAsync().ConfigureAwait(false);
                var output = (await stdout.ConfigureAwait(false) + await stderr.ConfigureAwait(false)).Trim();
                if (process.ExitCode != 0)
                {
                    _failed = $"{line} failed (exit code {process.ExitCode}){(output.Length > 0 ? ": " + output : "")}";
                    return;
                }

                Say("ran " + line);
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                _failed = $"{line}: {e.Message}";
            }
        }

        /// <summary>Says how it ended: 0 and <paramref name="success"/>, or 1 with the failed step and what was done before it.</summary>
        public async Task<int> FinishAsync(string command, string success)
        {
            if (dryRun)
            {
                Console.Out.WriteLine("(dry run: nothing was changed)");
                return 0;
            }

            if (_failed is null)
            {
                Console.Out.WriteLine(success);
                return 0;
            }

            await Console.Error.WriteLineAsync($"{command}: {_failed}").ConfigureAwait(false);
            if (_done.Count > 0)
            {
                await Console.Error.WriteLineAsync("done before it: " + string.Join("; ", _done)).ConfigureAwait(false);
            }

            return 1;
        }

        private void Say(string what)
        {
            _done.Add(what);
            Console.Out.WriteLine(what);
        }

        private static string Indent(string text) => string.Concat(text.Split('\n').Where(l => l.Length > 0).Select(l => "    " + l + "\n"));
    }
}
