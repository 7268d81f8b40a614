using Microsoft.Extensions.Hosting;

namespace Gantry.Server.Alerts.Delivery;

/// <summary>Runs <see cref="AlertDelivery.RunAsync"/> for as long as the server runs; registered to run on the leader only.</summary>
internal sealed class AlertDeliveryWorker(AlertDelivery delivery) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => delivery.RunAsync(stoppingToken);
}
