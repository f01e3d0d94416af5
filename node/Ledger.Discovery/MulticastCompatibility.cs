using System.Reflection;

namespace Ledger.Discovery;

/// <summary>
/// Makaretu.Dns.Multicast 0.27.0 calls <c>[System.Net.IPNetwork]System.Net.IPNetwork.Parse(string)</c> in
/// a static constructor. If the program's output carries IPNetwork2 5.x's assembly of that name
/// instead of node/System.Net.IPNetwork, that fails late with a TypeLoadException; this check fails
/// early and says what to change.
/// </summary>
internal static class MulticastCompatibility
{
    private const string TypeName = "System.Net.IPNetwork, System.Net.IPNetwork";

    public static void EnsureLoadable()
    {
        var type = Type.GetType(TypeName, throwOnError: false);
        var parse = type?.GetMethod("Parse", BindingFlags.Public | BindingFlags.Static, [typeof(string)]);
        if (type is null || parse is null || parse.ReturnType != type)
        {
            throw new InvalidOperationException(
                $"'{TypeName}' with a static Parse(string) is missing, so Makaretu.Dns.Multicast cannot load: "
                + "the program must reference the IPNetwork2 package with ExcludeAssets=\"all\" so that "
                + "node/System.Net.IPNetwork is the assembly of that name in its output");
        }
    }
}
