using System.Text.Json.Serialization;
using Gantry.Core.Protocol;

namespace Gantry.Server.Storage;

/// <summary>JSON for the columns that hold structured values (labels, GPU inventories, GPU lists).</summary>
[JsonSourceGenerationOptions(System.Text.Json.JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(List<GpuInventory>))]
[JsonSerializable(typeof(int[]))]
[JsonSerializable(typeof(string[]))]
[JsonSerializable(typeof(List<ContainerRuntimeInfo>))]
internal sealed partial class StoreJson : JsonSerializerContext;
