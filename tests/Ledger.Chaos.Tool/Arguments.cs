namespace Ledger.Chaos.Tool;

/// <summary><c>--name value</c> pairs (a name may repeat); anything else is a usage error.</summary>
internal sealed class Arguments
{
    private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);

    private Arguments()
    {
    }

    public static Arguments Parse(IReadOnlyList<string> args)
    {
        var parsed = new Arguments();
        for (var i = 0; i < args.Count; i += 2)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Count)
            {
                throw new ArgumentException($"expected --name value, got '{args[i]}'");
            }

            if (!parsed._values.TryGetValue(args[i], out var list))
            {
                list = [];
                parsed._values[args[i]] = list;
            }

            list.Add(args[i + 1]);
        }

        return parsed;
    }

    public string Required(string name) =>
        _values.TryGetValue(name, out var list) ? list[^1] : throw new ArgumentException($"{name} is required");

    public string? Optional(string name) => _values.TryGetValue(name, out var list) ? list[^1] : null;

    public IReadOnlyList<string> All(string name) => _values.TryGetValue(name, out var list) ? list : [];

    public int Int(string name, int defaultValue) =>
        Optional(name) is { } text ? int.Parse(text, System.Globalization.CultureInfo.InvariantCulture) : defaultValue;
}
