using System.Diagnostics;
using System.Text;

namespace Gantry.Server.PowerSaving;

/// <summary>
/// Runs a suspend or resume program as a child process: the node's name as its one argument, its id in
/// <c>GANTRY_NODE_ID</c>, no shell. Killed (with its process tree) past the timeout. Never throws for the
/// program's own failure: the result says what happened, with the end of what it wrote to stderr.
/// </summary>
internal static class PowerCommand
{
    /// <summary>How much of the program's stderr a failure keeps.</summary>
    private const int ErrorTail = 300;

    public static async Task<PowerCommandResult> RunAsync(string program, string nodeName, string nodeId, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(program)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        info.ArgumentList.Add(nodeName);
        info.Environment["GANTRY_NODE_ID"] = nodeId;
        info.Environment["GANTRY_NODE_NAME"] = nodeName;

        using var process = new Process { StartInfo = info };
        try
        {
            process.Start();
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return new PowerCommandResult(false, $"could not start {program}: {ex.Message}");
        }

        process.StandardInput.Close();
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(limit.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // It ended on its own meanwhile.
            }

            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            return new PowerCommandResult(false, $"{Path.GetFileName(program)} ran past {Core.Text.Durations.Format(timeout)} and was killed");
        }

        await stdout.ConfigureAwait(false);
        var error = (await stderr.ConfigureAwait(false)).Trim();
        if (process.ExitCode == 0)
        {
            return new PowerCommandResult(true, null);
        }

        var why = new StringBuilder($"{Path.GetFileName(program)} exited with {process.ExitCode}");
        if (error.Length > 0)
        {
            why.Append(": ").Append(error.Length > ErrorTail ? "…" + error[^ErrorTail..] : error);
        }

        return new PowerCommandResult(false, why.ToString());
    }
}

/// <summary>How a suspend or resume program ended: <paramref name="Succeeded"/> on exit 0, else <paramref name="Failure"/> says why.</summary>
internal sealed record PowerCommandResult(bool Succeeded, string? Failure);
