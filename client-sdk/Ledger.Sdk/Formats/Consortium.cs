using System.Text.Json;
using System.Text.Json.Nodes;

namespace Ledger.Sdk;

/// <summary>A member of the consortium: a node's name, its signing key and, optionally, its address.</summary>
public sealed record ConsortiumMember(string Id, VerifierKey Key, string? Address);

/// <summary>An issuer allowed to anchor: its name, its signing key and a display name.</summary>
public sealed record ConsortiumIssuer(string Id, VerifierKey Key, string? DisplayName);

/// <summary>
/// The consortium file (SPEC §2): the one thing a verifier must trust. Parsing validates everything
/// and throws <see cref="FormatException"/> with a message that names the field at fault.
/// </summary>
public sealed class Consortium
{
    /// <summary>The most members a consortium may have.</summary>
    public const int MembersMax = 64;

    /// <summary>The most issuers a consortium file may list.</summary>
    public const int IssuersMax = 10_000;

    /// <summary>The largest consortium file accepted, in bytes.</summary>
    public const int FileBytesMax = 4 * 1024 * 1024;

    private readonly Dictionary<string, ConsortiumMember> _membersById;
    private readonly Dictionary<string, ConsortiumIssuer> _issuersById;

    /// <summary>Builds and validates a consortium.</summary>
    public Consortium(string origin, int quorum, IReadOnlyList<ConsortiumMember> members, IReadOnlyList<ConsortiumIssuer> issuers, JsonObject? extensions = null)
    {
        Origin = origin;
        Quorum = quorum;
        Members = members;
        Issuers = issuers;
        Extensions = extensions ?? [];
        _membersById = new Dictionary<string, ConsortiumMember>(StringComparer.Ordinal);
        _issuersById = new Dictionary<string, ConsortiumIssuer>(StringComparer.Ordinal);
        Validate();
    }

    /// <summary>The log's name, the first line of every checkpoint.</summary>
    public string Origin { get; }

    /// <summary>Distinct member signatures a checkpoint needs.</summary>
    public int Quorum { get; }

    /// <summary>The members, in file order.</summary>
    public IReadOnlyList<ConsortiumMember> Members { get; }

    /// <summary>The issuers, in file order.</summary>
    public IReadOnlyList<ConsortiumIssuer> Issuers { get; }

    /// <summary>Top-level fields this SDK does not define (nodes keep their own settings there).</summary>
    public JsonObject Extensions { get; }

    /// <summary>The smallest quorum allowed: a majority of the members.</summary>
    public static int MajorityOf(int memberCount) => (memberCount / 2) + 1;

    /// <summary>The member with that name, or null.</summary>
    public ConsortiumMember? FindMember(string id) => _membersById.GetValueOrDefault(id);

    /// <summary>The issuer with that name, or null.</summary>
    public ConsortiumIssuer? FindIssuer(string id) => _issuersById.GetValueOrDefault(id);

    /// <summary>Reads and validates a consortium file.</summary>
    public static Consortium Load(string path)
    {
        var info = new FileInfo(path);
        if (info.Exists && info.Length > FileBytesMax)
        {
            throw new FormatException($"consortium file {path} is larger than {FileBytesMax} bytes");
        }

        return Parse(File.ReadAllText(path));
    }

    /// <summary>Parses and validates consortium JSON.</summary>
    public static Consortium Parse(string json)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new FormatException($"consortium file is not valid JSON: {e.Message}", e);
        }

        if (node is not JsonObject root)
        {
            throw new FormatException("consortium file must hold one JSON object");
        }

        var origin = RequiredString(root, "origin", "consortium");
        var members = ParseMembers(RequiredArray(root, "members"));
        var issuers = ParseIssuers(root["issuers"] is null ? [] : RequiredArray(root, "issuers"));
        var quorum = root["quorum"] is null ? MajorityOf(members.Count) : RequiredInt(root, "quorum");
        var extensions = new JsonObject();
        foreach (var (key, value) in root)
        {
            if (key is not ("origin" or "quorum" or "members" or "issuers"))
            {
                extensions[key] = value?.DeepClone();
            }
        }

        return new Consortium(origin, quorum, members, issuers, extensions);
    }

    /// <summary>The file's JSON, indented, with extension fields kept.</summary>
    public string ToJson()
    {
        var root = new JsonObject
        {
            ["origin"] = Origin,
            ["quorum"] = Quorum,
            ["members"] = new JsonArray([.. Members.Select(m => (JsonNode)MemberJson(m))]),
            ["issuers"] = new JsonArray([.. Issuers.Select(i => (JsonNode)IssuerJson(i))]),
        };
        foreach (var (key, value) in Extensions)
        {
            root[key] = value?.DeepClone();
        }

        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    private static JsonObject MemberJson(ConsortiumMember m)
    {
        var o = new JsonObject { ["id"] = m.Id, ["key"] = m.Key.ToString() };
        if (m.Address is not null)
        {
            o["address"] = m.Address;
        }

        return o;
    }

    private static JsonObject IssuerJson(ConsortiumIssuer i)
    {
        var o = new JsonObject { ["id"] = i.Id, ["key"] = i.Key.ToString() };
        if (i.DisplayName is not null)
        {
            o["name"] = i.DisplayName;
        }

        return o;
    }

    private void Validate()
    {
        if (!Checkpoint.IsValidOrigin(Origin))
        {
            throw new FormatException($"consortium origin '{Origin}' is invalid: no spaces, no '+', 1-{Checkpoint.OriginLengthMax} bytes");
        }

        if (Members.Count == 0 || Members.Count > MembersMax)
        {
            throw new FormatException($"consortium must list 1-{MembersMax} members, not {Members.Count}");
        }

        if (Issuers.Count > IssuersMax)
        {
            throw new FormatException($"consortium lists {Issuers.Count} issuers; at most {IssuersMax} are accepted");
        }

        var majority = MajorityOf(Members.Count);
        if (Quorum < majority || Quorum > Members.Count)
        {
            throw new FormatException(
                $"consortium quorum {Quorum} is out of range: with {Members.Count} members it must be {majority}-{Members.Count}");
        }

        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var member in Members)
        {
            CheckEntry(member.Id, member.Key, "member", keys);
            if (!_membersById.TryAdd(member.Id, member))
            {
                throw new FormatException($"member '{member.Id}' is listed twice");
            }
        }

        foreach (var issuer in Issuers)
        {
            CheckEntry(issuer.Id, issuer.Key, "issuer", keys);
            if (!_issuersById.TryAdd(issuer.Id, issuer))
            {
                throw new FormatException($"issuer '{issuer.Id}' is listed twice");
            }
        }
    }

    private static void CheckEntry(string id, VerifierKey key, string role, HashSet<string> keys)
    {
        Names.Validate(id, role);
        if (!string.Equals(key.Name, id, StringComparison.Ordinal))
        {
            throw new FormatException($"{role} '{id}' has a key named '{key.Name}'; a key's name must be its owner's id");
        }

        if (!keys.Add(Convert.ToBase64String(key.PublicKey)))
        {
            throw new FormatException($"{role} '{id}' uses a public key that another member or issuer already uses");
        }
    }

    private static List<ConsortiumMember> ParseMembers(JsonArray array)
    {
        var members = new List<ConsortiumMember>(array.Count);
        for (var i = 0; i < array.Count; i++)
        {
            var o = array[i] as JsonObject ?? throw new FormatException($"members[{i}] is not an object");
            var where = $"members[{i}]";
            var id = RequiredString(o, "id", where);
            var key = ParseKey(RequiredString(o, "key", where), $"member '{id}'");
            var address = o["address"] is null ? null : RequiredString(o, "address", where);
            members.Add(new ConsortiumMember(id, key, address));
        }

        return members;
    }

    private static List<ConsortiumIssuer> ParseIssuers(JsonArray array)
    {
        var issuers = new List<ConsortiumIssuer>(array.Count);
        for (var i = 0; i < array.Count; i++)
        {
            var o = array[i] as JsonObject ?? throw new FormatException($"issuers[{i}] is not an object");
            var where = $"issuers[{i}]";
            var id = RequiredString(o, "id", where);
            var key = ParseKey(RequiredString(o, "key", where), $"issuer '{id}'");
            var name = o["name"] is null ? null : RequiredString(o, "name", where);
            issuers.Add(new ConsortiumIssuer(id, key, name));
        }

        return issuers;
    }

    private static VerifierKey ParseKey(string text, string owner)
    {
        try
        {
            return VerifierKey.Parse(text);
        }
        catch (FormatException e)
        {
            throw new FormatException($"the key of {owner} is invalid: {e.Message}", e);
        }
    }

    private static string RequiredString(JsonObject o, string field, string where) =>
        o[field] is JsonValue v && v.TryGetValue<string>(out var s)
            ? s
            : throw new FormatException($"{where}: field '{field}' must be a string");

    private static int RequiredInt(JsonObject o, string field) =>
        o[field] is JsonValue v && v.TryGetValue<int>(out var n)
            ? n
            : throw new FormatException($"consortium: field '{field}' must be a whole number");

    private static JsonArray RequiredArray(JsonObject o, string field) =>
        o[field] as JsonArray ?? throw new FormatException($"consortium: field '{field}' must be an array");
}
