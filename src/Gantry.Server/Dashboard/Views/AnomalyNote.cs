namespace Gantry.Server.Dashboard.Views;

/// <summary>
/// A note on the node page: the highest current anomaly score of the node's own series, or of one GPU's,
/// when it is an alarm (<see cref="DashboardData.Anomalies"/>).
/// </summary>
/// <param name="Gpu">The GPU; null for the node's series.</param>
/// <param name="Text">"anomaly 0.83 (temperature vs peers)".</param>
/// <param name="Minute">The minute the score is for.</param>
/// <param name="Term">What the detector found (a term's name); null for peer series.</param>
public sealed record AnomalyNote(int? Gpu, string Text, DateTimeOffset Minute, string? Term);
