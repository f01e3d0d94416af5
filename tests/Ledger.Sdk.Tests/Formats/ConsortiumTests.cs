using System.Text.Json.Nodes;
using Ledger.Sdk;
using Ledger.TestKit;

namespace Ledger.Sdk.Tests.Formats;

public sealed class ConsortiumTests
{
    private static readonly string KeyA = ReceiptFixture.KeyFromLabel("member-a").Verifier.ToString();
    private static readonly string KeyB = ReceiptFixture.KeyFromLabel("member-b").Verifier.ToString();
    private static readonly string KeyC = ReceiptFixture.KeyFromLabel("member-c").Verifier.ToString();
    private static readonly string IssuerKey = ReceiptFixture.KeyFromLabel("app-paris").Verifier.ToString();

    private static JsonObject Valid() => new()
    {
        ["origin"] = "ledger.example.org/badges-2026",
        ["quorum"] = 2,
        ["members"] = new JsonArray(
            new JsonObject { ["id"] = "member-a", ["key"] = KeyA, ["address"] = "https://127.0.0.1:7400" },
            new JsonObject { ["id"] = "member-b", ["key"] = KeyB },
            new JsonObject { ["id"] = "member-c", ["key"] = KeyC }),
        ["issuers"] = new JsonArray(new JsonObject { ["id"] = "app-paris", ["key"] = IssuerKey, ["name"] = "APP Paris" }),
        ["tls"] = new JsonObject { ["pins"] = "node-specific" },
    };

    [Fact]
    public void Valid_file_parses_and_round_trips_with_unknown_fields_kept()
    {
        var consortium = Consortium.Parse(Valid().ToJsonString());
        Assert.Equal("ledger.example.org/badges-2026", consortium.Origin);
        Assert.Equal(2, consortium.Quorum);
        Assert.Equal(["member-a", "member-b", "member-c"], consortium.Members.Select(m => m.Id));
        Assert.Equal("https://127.0.0.1:7400", consortium.FindMember("member-a")!.Address);
        Assert.Null(consortium.FindMember("member-b")!.Address);
        Assert.Equal("APP Paris", consortium.FindIssuer("app-paris")!.DisplayName);
        Assert.Null(consortium.FindIssuer("member-a"));
        var again = Consortium.Parse(consortium.ToJson());
        Assert.Equal(consortium.ToJson(), again.ToJson());
        Assert.Equal("node-specific", again.Extensions["tls"]!["pins"]!.GetValue<string>());
    }

    [Fact]
    public void Quorum_defaults_to_a_majority()
    {
        var json = Valid();
        json.Remove("quorum");
        Assert.Equal(2, Consortium.Parse(json.ToJsonString()).Quorum);
    }

    public static TheoryData<string, string> BadFiles() => new()
    {
        { "not json", "not valid JSON" },
        { "[]", "one JSON object" },
        { Edit(j => j.Remove("origin")), "field 'origin' must be a string" },
        { Edit(j => j["origin"] = "has space"), "origin 'has space' is invalid" },
        { Edit(j => j["origin"] = "a+b"), "origin 'a+b' is invalid" },
        { Edit(j => j["quorum"] = 1), "quorum 1 is out of range: with 3 members it must be 2-3" },
        { Edit(j => j["quorum"] = 4), "quorum 4 is out of range" },
        { Edit(j => j["quorum"] = "2"), "'quorum' must be a whole number" },
        { Edit(j => j["members"] = new JsonArray()), "1-64 members" },
        { Edit(j => j["members"]![1]!["id"] = "member-a"), "key named 'member-b'" },
        { Edit(j => j["members"]![0]!["key"] = "member-a+00000000+AAAA"), "the key of member 'member-a' is invalid" },
        { Edit(j => j["members"]![0]!["id"] = "Member-A"), "member name 'Member-A' is invalid" },
        { Edit(j => j["members"]!.AsArray().Add(new JsonObject { ["id"] = "member-a", ["key"] = KeyA })), "quorum 2 is out of range: with 4 members" },
        { Edit(j => { j["quorum"] = 3; j["members"]!.AsArray().Add(new JsonObject { ["id"] = "member-a", ["key"] = KeyA }); }), "another member or issuer already uses" },
        { Edit(j => j["issuers"]!.AsArray().Add(new JsonObject { ["id"] = "app-x", ["key"] = SameKeyAs("member-a", "app-x") })), "issuer 'app-x' uses a public key that another member or issuer already uses" },
        { Edit(j => j["issuers"]![0]!["key"] = KeyA), "key named 'member-a'" },
        { Edit(j => j["members"]![0]!["address"] = 7), "field 'address' must be a string" },
    };

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void Bad_files_are_rejected_with_a_reason(string json, string reason)
    {
        var error = Assert.Throws<FormatException>(() => Consortium.Parse(json));
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    private static string SameKeyAs(string owner, string name) =>
        VerifierKey.FromPublicKey(name, ReceiptFixture.KeyFromLabel(owner).Verifier.PublicKey).ToString();

    private static string Edit(Action<JsonObject> change)
    {
        var json = Valid();
        change(json);
        return json.ToJsonString();
    }
}
