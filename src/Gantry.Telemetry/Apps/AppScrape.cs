namespace Gantry.Telemetry.Apps;

/// <summary>
/// What one inference server's metrics endpoint said in one scrape: raw token counters, summed
/// over every label set (models, engines). <see cref="AppRateCalculator"/> turns two of these
/// into an <see cref="Model.AppSample"/> with rates.
/// </summary>
/// <param name="Url">The endpoint, as configured.</param>
/// <param name="Kind"><c>vllm</c>, <c>tgi</c>, <c>generic</c>, or null when the endpoint answered with none of their metrics.</param>
/// <param name="Up">True when the endpoint answered 2xx within the timeout.</param>
/// <param name="Error">Why it was not up.</param>
/// <param name="PromptTokensTotal">Prompt (prefill) tokens since the server started; null when not reported.</param>
/// <param name="GeneratedTokensTotal">Generated (decode) tokens since the server started; null when not reported.</param>
public sealed record AppScrape(
    string Url,
    string? Kind,
    bool Up,
    string? Error,
    double? PromptTokensTotal,
    double? GeneratedTokensTotal)
{
    /// <summary>A scrape that failed.</summary>
    public static AppScrape Down(string url, string error) => new(url, null, false, error, null, null);
}
