using System.Reflection;
using System.Runtime.Loader;

namespace Ledger.Node.Tests.Support;

/// <summary>
/// The real <c>ledger.dll</c>, loaded once into an isolated load context (its own dependencies,
/// resolved from its build folder) so that its entry point can run many times without the cost
/// of starting a process each time. Only the exit code is used: the console is shared.
/// </summary>
internal sealed class CliInProcess
{
    private static readonly Lazy<CliInProcess> Shared = new(() => new CliInProcess(RepoPaths.CliDll));
    private readonly MethodInfo _main;

    private CliInProcess(string dll)
    {
        var context = new IsolatedContext(dll);
        var assembly = context.LoadFromAssemblyPath(dll);
        _main = assembly.EntryPoint ?? throw new InvalidOperationException(dll + " has no entry point");
    }

    public static CliInProcess Instance => Shared.Value;

    public int Run(params string[] args)
    {
        var result = _main.Invoke(null, [args]);
        return result switch
        {
            int code => code,
            Task<int> task => task.GetAwaiter().GetResult(),
            _ => throw new InvalidOperationException("unexpected entry point result " + result),
        };
    }

    private sealed class IsolatedContext(string dll) : AssemblyLoadContext(isCollectible: false)
    {
        private readonly AssemblyDependencyResolver _resolver = new(dll);

        protected override Assembly? Load(AssemblyName assemblyName)
        {
            var path = _resolver.ResolveAssemblyToPath(assemblyName);
            return path is null ? null : LoadFromAssemblyPath(path);
        }
    }
}
