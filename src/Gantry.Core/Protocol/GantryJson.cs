using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gantry.Core.Protocol;

/// <summary>
/// Source-generated JSON for every message of the API: camelCase, enums as camelCase strings, nulls
/// left out, and strict reading: unknown properties, missing required ones and nulls where a value
/// is needed are errors, so a bad request is refused rather than half-understood.
/// </summary>
[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true,
    NumberHandling = JsonNumberHandling.Strict,
    AllowTrailingCommas = false,
    ReadCommentHandling = JsonCommentHandling.Disallow)]
[JsonSerializable(typeof(RegisterNodeRequest))]
[JsonSerializable(typeof(RegisterNodeResponse))]
[JsonSerializable(typeof(HeartbeatRequest))]
[JsonSerializable(typeof(HeartbeatResponse))]
[JsonSerializable(typeof(AssignmentsResponse))]
[JsonSerializable(typeof(AttemptEvent))]
[JsonSerializable(typeof(LogUpload))]
[JsonSerializable(typeof(JobSubmission))]
[JsonSerializable(typeof(SubmitResponse))]
[JsonSerializable(typeof(JobInfo))]
[JsonSerializable(typeof(Page<JobInfo>))]
[JsonSerializable(typeof(NodeInfo))]
[JsonSerializable(typeof(Page<NodeInfo>))]
[JsonSerializable(typeof(LogRecord))]
[JsonSerializable(typeof(ClusterSnapshot))]
[JsonSerializable(typeof(TelemetryQueryResponse))]
[JsonSerializable(typeof(CordonRequest))]
[JsonSerializable(typeof(AlertsResponse))]
[JsonSerializable(typeof(AlertRulesResponse))]
[JsonSerializable(typeof(AddAlertRulesRequest))]
[JsonSerializable(typeof(AddAlertRulesResponse))]
[JsonSerializable(typeof(SilenceInfo))]
[JsonSerializable(typeof(CreateSilenceRequest))]
[JsonSerializable(typeof(SilencesResponse))]
[JsonSerializable(typeof(AnomaliesResponse))]
// Job energy.
[JsonSerializable(typeof(EnergyReport))]

[JsonSerializable(typeof(PowerCapRequest))]
[JsonSerializable(typeof(NodePowerInfo))]
[JsonSerializable(typeof(PowerBudgetInfo))]
[JsonSerializable(typeof(CreateTokenRequest))]
[JsonSerializable(typeof(CreateTokenResponse))]
[JsonSerializable(typeof(TokensResponse))]
[JsonSerializable(typeof(TokenInfo))]
[JsonSerializable(typeof(Page<AuditEntry>))]
[JsonSerializable(typeof(FairShareInfo))] // fair share (docs/fair-share.md)
public sealed partial class GantryJson : JsonSerializerContext;
