using Gantry.Core.Protocol;
using Gantry.Telemetry.Exposition;

namespace Gantry.Server.FairShare;

/// <summary>
/// Fair share on the server's <c>/metrics</c>, from one <see cref="FairShareInfo"/> (no lock held while
/// writing): per account (a person, so few series), decayed GPU-hours, GPUs held and pending jobs. The
/// default account of jobs without one is <c>account=""</c>. Usage is left out with fair share off.
/// </summary>
internal static class FairShareMetrics
{
    public static void Render(PrometheusTextWriter w, FairShareInfo info)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(info);
        if (info.Enabled)
        {
            w.Series(info.Accounts, "gantry_server_account_usage_gpu_seconds", "gauge", "GPU-seconds each account used, each decayed by its age with --fair-share-half-life: what fair share orders jobs of one priority by.", static a => a.UsageGpuHours * 3600, Account);
        }

        w.Series(info.Accounts, "gantry_server_account_gpus", "gauge", "GPUs the live attempts of each account hold.", static a => a.RunningGpus, Account);
        w.Series(info.Accounts, "gantry_server_account_pending_jobs", "gauge", "Pending jobs of each account.", static a => a.PendingJobs, Account);
    }

    private static void Account(PrometheusTextWriter w, AccountShareInfo account) => w.Label("account", account.Account);
}
