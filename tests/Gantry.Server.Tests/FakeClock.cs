using Gantry.Testing;

namespace Gantry.Server.Tests;

/// <summary>Moving a server's fake clock over simulated hours, as its workers would see real time pass.</summary>
internal static class FakeClock
{
    /// <summary>Moves the clock in minute steps (a scheduling pass may run at each), giving the server a moment each time.</summary>
    public static async Task AdvanceToAsync(FakeTimeProvider time, DateTimeOffset target)
    {
        while (time.GetUtcNow() < target)
        {
            var step = target - time.GetUtcNow();
            time.Advance(step < TimeSpan.FromMinutes(1) ? step : TimeSpan.FromMinutes(1));
            await Task.Delay(10);
        }

        await Task.Delay(50);
    }
}
