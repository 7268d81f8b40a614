using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Gantry.Server.Tests.Fuzz;

/// <summary>A mutated request body and a description of what was done to it.</summary>
internal sealed record Mutant(string Mutation, byte[] Body);

/// <summary>
/// Turns a valid JSON body into broken ones, deterministically from a seed: fields removed, set to
/// null, retyped, oversized, nested deeply, duplicated; entries and elements added inside objects,
/// dictionaries and arrays; the bytes truncated, garbled or made invalid UTF-8.
/// </summary>
/// <remarks>
/// Mutations work on a <see cref="JsonNode"/> tree. What a tree cannot hold (a duplicate key, a
/// number literal such as <c>1e400</c>, nesting past the writer's depth, bytes that are not UTF-8)
/// goes in as a placeholder string that is swapped for the raw bytes after serialisation.
/// </remarks>
internal sealed class JsonMutator
{
    private const string PlaceholderPrefix = "~~fuzz";

    private static readonly string[] NumberLiterals =
    [
        "9223372036854775807", "-9223372036854775808", "9223372036854775808", "2147483647", "2147483648",
        "-2147483649", "4294967296", "-1", "0", "-0", "1.5", "1e308", "-1e308", "1e309", "1e-400",
        "123456789012345678901234567890", "0.0000001", "-0.5e3",
    ];

    private static readonly byte[][] InvalidUtf8 =
    [
        [0xFF], [0xFE], [0x80], [0xC3], [0xC3, 0x28], [0xC0, 0xAF], [0xED, 0xA0, 0x80],
        [0xF4, 0x90, 0x80, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80], [0xE2, 0x82],
    ];

    private static readonly string[] OddKeys = ["bogus", "", " ", "a b", "1bad", "ZONE", "\u0000", "é", "x.y/z", "$ref", "__proto__"];

    private static readonly byte[] Syntax = "\"{}[],:\\0n -eE.tf\0"u8.ToArray();

    private readonly Random _random;
    private readonly List<(string Placeholder, byte[] Raw, bool Quoted)> _raw = [];

    public JsonMutator(int seed) => _random = new Random(seed);

    /// <summary>
    /// Every place in <paramref name="valid"/> set to null and removed; then every object (a record
    /// or a map such as <c>env</c>) given a null entry, every array a null element and every other
    /// value another JSON type.
    /// </summary>
    public IEnumerable<Mutant> Systematic(string valid)
    {
        var count = Locations(Parse(valid)).Count;
        for (var i = 0; i < count; i++)
        {
            yield return Structural(valid, i, static (_, l) => Replace(l, null, "null"));
            yield return Structural(valid, i, static (m, l) => m.Remove(l));
            yield return Structural(valid, i, static (m, l) => l.Node switch
            {
                JsonObject o => AddEntry(l.Path, o, "FUZZ", null),
                JsonArray a => m.InsertElement(l.Path, a, null),
                _ => Replace(l, m.OtherType(l.Node), "retype"),
            });
        }
    }

    /// <summary>
    /// A random mutant of <paramref name="valid"/>: another body altogether, damage to its bytes, or
    /// one to three mutations of its tree, sometimes with damage to the bytes after them.
    /// </summary>
    public Mutant Random(string valid)
    {
        _raw.Clear();
        var choice = _random.Next(100);
        if (choice < 8)
        {
            return Whole(valid);
        }

        var root = Parse(valid);
        var done = new List<string>();
        var steps = choice < 30 ? 0 : 1 + (_random.Next(4) == 0 ? _random.Next(1, 3) : 0);
        for (var i = 0; i < steps; i++)
        {
            var locations = Locations(root);
            var location = locations[_random.Next(locations.Count)];
            var (changed, what) = Mutate(location);
            done.Add(what);
            if (location.Parent is null)
            {
                root = changed;
            }
        }

        var bytes = Serialize(root);
        if (steps == 0 || _random.Next(5) == 0)
        {
            (bytes, var what) = Damage(bytes);
            done.Add(what);
        }

        return new Mutant(string.Join("; ", done), bytes);
    }

    private Mutant Structural(string valid, int index, Func<JsonMutator, Location, (JsonNode? Root, string What)> mutate)
    {
        _raw.Clear();
        var root = Parse(valid);
        var location = Locations(root)[index];
        var (changed, what) = mutate(this, location);
        return new Mutant(what, Serialize(location.Parent is null ? changed : root));
    }

    private (JsonNode? Root, string What) Mutate(Location l)
    {
        switch (_random.Next(10))
        {
            case 0:
                return Remove(l);
            case 1:
                return Replace(l, null, "null");
            case 2:
                return Replace(l, OtherType(l.Node), "retype");
            case 3:
                return Replace(l, Oversized(l.Node), "oversize");
            case 4:
                return Replace(l, Raw(Nested(), quoted: true), "deep nesting");
            case 5:
                return Replace(l, Raw(Encoding.ASCII.GetBytes(Pick(NumberLiterals)), quoted: true), "number literal");
            case 6 when l.Node is JsonObject o && o.Count > 0:
                return Duplicate(l, o);
            case 6 or 7 when l.Node is JsonObject o:
                return AddEntry(l.Path, o, Pick(OddKeys), RandomValue());
            case 6 or 7 when l.Node is JsonArray a:
                return InsertElement(l.Path, a, RandomValue());
            case 8 when l.Node is JsonValue v && v.GetValueKind() == JsonValueKind.String:
                return Replace(l, Raw([.. JsonEncodedText.Encode(v.GetValue<string>()).EncodedUtf8Bytes, .. Pick(InvalidUtf8)], quoted: false), "invalid UTF-8 in string");
            default:
                return Replace(l, RandomValue(), "random value");
        }
    }

    private (JsonNode? Root, string What) Remove(Location l)
    {
        switch (l.Parent)
        {
            case JsonObject o:
                o.Remove(l.Key!);
                break;
            case JsonArray a:
                a.RemoveAt(l.Index);
                break;
            default:
                return (Raw([], quoted: true), "empty body");
        }

        return (null, $"remove {l.Path}");
    }

    private static (JsonNode? Root, string What) Replace(Location l, JsonNode? value, string what)
    {
        switch (l.Parent)
        {
            case JsonObject o:
                o[l.Key!] = value;
                break;
            case JsonArray a:
                a[l.Index] = value;
                break;
        }

        return (value, $"{what} at {l.Path}");
    }

    private static (JsonNode? Root, string What) AddEntry(string path, JsonObject o, string key, JsonNode? value)
    {
        o[key] = value;
        return (o, $"entry {JsonSerializer.Serialize(key)}: {value?.ToJsonString() ?? "null"} in {path}");
    }

    private (JsonNode? Root, string What) InsertElement(string path, JsonArray a, JsonNode? value)
    {
        var at = _random.Next(a.Count + 1);
        a.Insert(at, value);
        return (a, $"element {value?.ToJsonString() ?? "null"} at {path}[{at}]");
    }

    private (JsonNode? Root, string What) Duplicate(Location l, JsonObject o)
    {
        var key = o.ElementAt(_random.Next(o.Count)).Key;
        var value = _random.Next(2) == 0 ? null : RandomValue();
        var placeholder = Placeholder(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(key)), quoted: true);
        o[placeholder] = value;
        return (o, $"duplicate key {JsonSerializer.Serialize(key)}: {value?.ToJsonString() ?? "null"} in {l.Path}");
    }

    /// <summary>A value of another JSON type than <paramref name="node"/>.</summary>
    private JsonNode? OtherType(JsonNode? node)
    {
        var kind = node?.GetValueKind() ?? JsonValueKind.Null;
        while (true)
        {
            JsonNode? value = _random.Next(6) switch
            {
                0 => Pick(["", "fuzz", "0", "true", "null", "{}", "2026-01-01T00:00:00Z"]),
                1 => _random.Next(3) - 1,
                2 => 0.5,
                3 => _random.Next(2) == 0,
                4 => _random.Next(2) == 0 ? new JsonArray() : new JsonArray(1, "a", null),
                _ => _random.Next(2) == 0 ? new JsonObject() : new JsonObject { ["a"] = 1 },
            };
            var other = value?.GetValueKind() ?? JsonValueKind.Null;
            if (other != kind && !(other is JsonValueKind.True or JsonValueKind.False && kind is JsonValueKind.True or JsonValueKind.False))
            {
                return value;
            }
        }
    }

    private JsonNode? Oversized(JsonNode? node)
    {
        switch (node)
        {
            case JsonArray a:
                var many = new JsonArray();
                var element = a.Count > 0 ? a[0] : JsonValue.Create(1);
                for (var i = 0; i < 2000; i++)
                {
                    many.Add(element?.DeepClone());
                }

                return many;
            case JsonObject:
                var wide = new JsonObject();
                for (var i = 0; i < 2000; i++)
                {
                    wide["K" + i.ToString(CultureInfo.InvariantCulture)] = "v";
                }

                return wide;
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                // Now and then past the server's 1 MiB body limit.
                var length = _random.Next(12) == 0 ? 1_100_000 : Pick([300, 5_000, 70_000, 300_000]);
                return new string(Pick(['x', 'é', '\u20ac', '\0', ' ']), length);
            default:
                return Raw(Encoding.ASCII.GetBytes(Pick(NumberLiterals)), quoted: true);
        }
    }

    /// <summary>Arrays or objects nested past System.Text.Json's depth limit of 64, or just under it.</summary>
    private byte[] Nested()
    {
        var depth = Pick([63, 65, 200, 1_000, 10_000]);
        var text = new StringBuilder();
        var objects = _random.Next(2) == 0;
        for (var i = 0; i < depth; i++)
        {
            text.Append(objects ? "{\"a\":" : "[");
        }

        text.Append('1');
        text.Append(objects ? '}' : ']', depth);
        return Encoding.ASCII.GetBytes(text.ToString());
    }

    private JsonNode? RandomValue() => _random.Next(8) switch
    {
        0 => null,
        1 => Pick(["", "v", "a b", "\u0000", "/abs/path", new string('y', 100)]),
        2 => _random.Next(-1, 3),
        3 => _random.Next(2) == 0,
        4 => new JsonArray(),
        5 => new JsonArray(null, "x"),
        6 => new JsonObject(),
        _ => new JsonObject { ["k"] = null },
    };

    /// <summary>A whole body of another kind: empty, a scalar, not UTF-8 at all.</summary>
    private Mutant Whole(string valid) => _random.Next(8) switch
    {
        0 => new Mutant("empty body", []),
        1 => new Mutant("body null", "null"u8.ToArray()),
        2 => new Mutant("body array", "[]"u8.ToArray()),
        3 => new Mutant("body string", "\"{}\""u8.ToArray()),
        4 => new Mutant("UTF-16 body", Encoding.Unicode.GetBytes(valid)),
        5 => new Mutant("UTF-8 BOM then body", [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes(valid)]),
        6 => new Mutant("Latin-1 body", Encoding.Latin1.GetBytes(valid.Replace("fuzz", "f\u00fc\u00dfz", StringComparison.Ordinal))),
        _ => new Mutant("body twice", Encoding.UTF8.GetBytes(valid + valid)),
    };

    /// <summary>Damage to the serialised bytes: cut short, a byte changed, invalid UTF-8 put in.</summary>
    private (byte[] Bytes, string What) Damage(byte[] bytes)
    {
        var at = _random.Next(bytes.Length + 1);
        switch (_random.Next(3))
        {
            case 0:
                return (bytes[..at], $"truncated at byte {at} of {bytes.Length}");
            case 1 when bytes.Length > 0:
                at = Math.Min(at, bytes.Length - 1);
                var copy = bytes.ToArray();
                copy[at] = Syntax[_random.Next(Syntax.Length)];
                return (copy, $"byte {at} set to 0x{copy[at]:X2}");
            default:
                var bad = Pick(InvalidUtf8);
                return ([.. bytes[..at], .. bad, .. bytes[at..]], $"invalid UTF-8 {Convert.ToHexString(bad)} at byte {at}");
        }
    }

    private JsonValue Raw(byte[] raw, bool quoted) => JsonValue.Create(Placeholder(raw, quoted));

    private string Placeholder(byte[] raw, bool quoted)
    {
        var placeholder = PlaceholderPrefix + _raw.Count.ToString(CultureInfo.InvariantCulture) + "~~";
        _raw.Add((placeholder, raw, quoted));
        return placeholder;
    }

    private byte[] Serialize(JsonNode? root)
    {
        var bytes = Encoding.UTF8.GetBytes(root?.ToJsonString() ?? "null");
        foreach (var (placeholder, raw, quoted) in _raw)
        {
            var token = Encoding.ASCII.GetBytes(quoted ? $"\"{placeholder}\"" : placeholder);
            var at = bytes.AsSpan().IndexOf(token);
            if (at >= 0)
            {
                bytes = [.. bytes[..at], .. raw, .. bytes[(at + token.Length)..]];
            }
        }

        return bytes;
    }

    private T Pick<T>(T[] items) => items[_random.Next(items.Length)];

    private static JsonNode? Parse(string json) => JsonNode.Parse(json);

    /// <summary>Every node of the tree, the root first, each with where it sits.</summary>
    private static List<Location> Locations(JsonNode? root)
    {
        var list = new List<Location>();
        Walk(root, null, null, -1, "$", list);
        return list;
    }

    private static void Walk(JsonNode? node, JsonNode? parent, string? key, int index, string path, List<Location> list)
    {
        list.Add(new Location(node, parent, key, index, path));
        switch (node)
        {
            case JsonObject o:
                foreach (var (name, child) in o.ToArray())
                {
                    Walk(child, o, name, -1, $"{path}.{name}", list);
                }

                break;
            case JsonArray a:
                for (var i = 0; i < a.Count; i++)
                {
                    Walk(a[i], a, null, i, $"{path}[{i}]", list);
                }

                break;
        }
    }

    private sealed record Location(JsonNode? Node, JsonNode? Parent, string? Key, int Index, string Path);
}
