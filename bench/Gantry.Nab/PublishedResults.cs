namespace Gantry.Nab;

/// <summary>One file's row of a NAB <c>*_scores.csv</c>: its score and counts at the detector's threshold.</summary>
internal sealed record PublishedFileScore(string File, double Score, int Tp, int Tn, int Fp, int Fn);

/// <summary>
/// Results NAB publishes for its own detectors, which this scorer must reproduce from the same detector
/// on the same files.
/// </summary>
internal static class PublishedResults
{
    /// <summary>The threshold of <see cref="WindowedGaussianStandard"/>: NAB's optimised standard threshold for windowedGaussian.</summary>
    public const double WindowedGaussianStandardThreshold = 1.0;

    /// <summary>
    /// windowedGaussian's normalised standard-profile score over the 35 files of ../shared/data/nab, its
    /// threshold optimised over them, from NAB's published per-row results (that folder's README.md).
    /// </summary>
    public const double WindowedGaussianStandard35Files = 22.0;

    /// <summary>
    /// <c>results/windowedGaussian/windowedGaussian_standard_scores.csv</c> of NAB v1.1 (github.com/numenta/NAB),
    /// the rows of the 35 files here: score, TP, TN, FP and FN at threshold 1.0.
    /// </summary>
    public static IReadOnlyList<PublishedFileScore> WindowedGaussianStandard { get; } =
    [
        new("artificialNoAnomaly/art_daily_no_noise.csv", 0.0, 0, 3428, 0, 0),
        new("artificialNoAnomaly/art_daily_perfect_square_wave.csv", 0.0, 0, 3428, 0, 0),
        new("artificialNoAnomaly/art_daily_small_noise.csv", 0.0, 0, 3428, 0, 0),
        new("artificialNoAnomaly/art_flatline.csv", 0.0, 0, 3428, 0, 0),
        new("artificialNoAnomaly/art_noisy.csv", 0.0, 0, 3428, 0, 0),
        new("artificialWithAnomaly/art_daily_flatmiddle.csv", -1.0, 0, 3025, 0, 403),
        new("artificialWithAnomaly/art_daily_jumpsdown.csv", -1.0, 0, 3025, 0, 403),
        new("artificialWithAnomaly/art_daily_jumpsup.csv", -1.0, 0, 3025, 0, 403),
        new("artificialWithAnomaly/art_daily_nojump.csv", -1.0, 0, 3025, 0, 403),
        new("artificialWithAnomaly/art_increase_spike_density.csv", -1.0, 0, 3025, 0, 403),
        new("artificialWithAnomaly/art_load_balancer_spikes.csv", -0.6924446095227346, 18, 3010, 15, 385),
        new("realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv", -1.266678759349383, 2, 3015, 11, 400),
        new("realAWSCloudwatch/ec2_cpu_utilization_53ea38.csv", -0.14142319611668508, 2, 3023, 3, 400),
        new("realAWSCloudwatch/ec2_cpu_utilization_5f5533.csv", -2.0, 0, 3026, 0, 402),
        new("realAWSCloudwatch/ec2_cpu_utilization_77c1ca.csv", -1.0, 0, 3025, 0, 403),
        new("realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv", -1.0, 0, 3085, 0, 343),
        new("realAWSCloudwatch/ec2_cpu_utilization_ac20cd.csv", 0.8606718242697022, 25, 3025, 0, 378),
        new("realAWSCloudwatch/ec2_cpu_utilization_c6585a.csv", -1.3200000000000003, 0, 3416, 12, 0),
        new("realAWSCloudwatch/ec2_cpu_utilization_fe7f93.csv", 0.6387577917723906, 6, 3022, 1, 399),
        new("realAWSCloudwatch/ec2_disk_write_bytes_1ef3de.csv", -4.190896785522053, 9, 3500, 48, 464),
        new("realAWSCloudwatch/ec2_disk_write_bytes_c0d644.csv", -1.0959985303155564, 13, 3004, 19, 392),
        new("realAWSCloudwatch/ec2_network_in_257a54.csv", 0.8606718242697022, 4, 3025, 0, 399),
        new("realAWSCloudwatch/ec2_network_in_5abac7.csv", -3.5219322351911635, 19, 3497, 50, 455),
        new("realAWSCloudwatch/elb_request_count_8c0756.csv", -0.13844919792440225, 1, 3026, 0, 401),
        new("realAWSCloudwatch/grok_asg_anomaly.csv", -1.247930964293478, 1, 3462, 1, 464),
        new("realAWSCloudwatch/iio_us-east-1_i-a2eb1cd9_NetworkIn.csv", -2.0, 0, 931, 0, 126),
        new("realAWSCloudwatch/rds_cpu_utilization_cc0c53.csv", -0.13844919792440225, 50, 3026, 0, 352),
        new("realAWSCloudwatch/rds_cpu_utilization_e47b3b.csv", -0.13844919792440225, 2, 3026, 0, 400),
        new("realKnownCause/ambient_temperature_system_failure.csv", -2.0, 0, 5791, 0, 726),
        new("realKnownCause/cpu_utilization_asg_misconfiguration.csv", -1.11, 0, 15800, 1, 1499),
        new("realKnownCause/ec2_request_latency_system_failure.csv", -0.06591011872780705, 3, 3082, 0, 343),
        new("realKnownCause/machine_temperature_system_failure.csv", -4.0, 0, 19677, 0, 2268),
        new("realKnownCause/nyc_taxi.csv", -5.0, 0, 8535, 0, 1035),
        new("realKnownCause/rogue_agent_key_hold.csv", -2.44, 0, 1406, 4, 190),
        new("realKnownCause/rogue_agent_key_updown.csv", -1.3964908955014117, 1, 4027, 8, 529),
    ];
}
