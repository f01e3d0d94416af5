using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Ledger.Sdk.Merkle;

/// <summary>
/// SHA-256 for the tree's small inputs (a 33 to 300-byte leaf, a 65-byte node). On Linux, .NET
/// computes SHA-256 with OpenSSL's libcrypto through its EVP interface, and for a 65-byte input the
/// per-call work around it (context reset, error-queue clearing, handle reference counting) costs
/// several times the two compression rounds themselves (docs/storage.md). Where the same libcrypto
/// is present, this calls its SHA256_Init / SHA256_Update / SHA256_Final directly on a context on the
/// stack. It is used only after it reproduced .NET's answers for a set of known inputs at first use;
/// otherwise, and on other systems, each thread reuses one <see cref="IncrementalHash"/>.
/// </summary>
internal static unsafe class Sha256
{
    /// <summary>Bytes reserved on the stack for OpenSSL's SHA256_CTX (112 bytes in OpenSSL 1.1 and 3.x).</summary>
    private const int ContextBytes = 256;

    /// <summary>
    /// Longer inputs go through .NET: the direct calls skip the runtime's GC transition, which is only
    /// right for calls that return within microseconds.
    /// </summary>
    private const int DirectInputBytesMax = 4096;

    private static readonly delegate* unmanaged[SuppressGCTransition]<byte*, int> Init;
    private static readonly delegate* unmanaged[SuppressGCTransition]<byte*, byte*, nuint, int> Update;
    private static readonly delegate* unmanaged[SuppressGCTransition]<byte*, byte*, int> Final;

    [ThreadStatic]
    private static IncrementalHash? _threadHasher;

    static Sha256()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable(PortableSwitch) == "1")
        {
            return;
        }

        foreach (var name in LibraryNames)
        {
            if (NativeLibrary.TryLoad(name, out var library)
                && NativeLibrary.TryGetExport(library, "SHA256_Init", out var init)
                && NativeLibrary.TryGetExport(library, "SHA256_Update", out var update)
                && NativeLibrary.TryGetExport(library, "SHA256_Final", out var final))
            {
                Init = (delegate* unmanaged[SuppressGCTransition]<byte*, int>)init;
                Update = (delegate* unmanaged[SuppressGCTransition]<byte*, byte*, nuint, int>)update;
                Final = (delegate* unmanaged[SuppressGCTransition]<byte*, byte*, int>)final;
                if (AgreesWithDotNet())
                {
                    Library = name;
                    return;
                }

                Init = null;
                Update = null;
                Final = null;
            }
        }
    }

    /// <summary>Set to 1, the tree hashes with .NET's SHA-256 only (for comparisons; the answers are the same).</summary>
    public const string PortableSwitch = "LEDGER_SHA256_PORTABLE";

    /// <summary>The libcrypto this process hashes with directly, or null when it uses .NET's SHA-256.</summary>
    public static string? Library { get; }

    private static readonly string[] LibraryNames = ["libcrypto.so.3", "libcrypto.so.1.1"];

    /// <summary>SHA-256 of <paramref name="input"/> into the first 32 bytes of <paramref name="destination"/>.</summary>
    public static void Hash(ReadOnlySpan<byte> input, Span<byte> destination) =>
        Hash(input, ReadOnlySpan<byte>.Empty, ReadOnlySpan<byte>.Empty, destination);

    /// <summary>SHA-256 of the three parts concatenated into the first 32 bytes of <paramref name="destination"/> (which may overlap them).</summary>
    public static void Hash(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second, ReadOnlySpan<byte> third, Span<byte> destination)
    {
        Invariant.Check(destination.Length >= MerkleHash.Size);
        if (Init == null || first.Length + second.Length + third.Length > DirectInputBytesMax)
        {
            HashWithDotNet(first, second, third, destination);
            return;
        }

        byte* context = stackalloc byte[ContextBytes];
        byte* digest = stackalloc byte[MerkleHash.Size];
        var ok = Init(context) == 1;
        fixed (byte* a = first)
        fixed (byte* b = second)
        fixed (byte* c = third)
        {
            ok &= first.IsEmpty || Update(context, a, (nuint)first.Length) == 1;
            ok &= second.IsEmpty || Update(context, b, (nuint)second.Length) == 1;
            ok &= third.IsEmpty || Update(context, c, (nuint)third.Length) == 1;
        }

        ok &= Final(digest, context) == 1;
        Invariant.Check(ok, "libcrypto's SHA-256 failed");
        new ReadOnlySpan<byte>(digest, MerkleHash.Size).CopyTo(destination);
    }

    /// <summary>The same hash through .NET's SHA-256 (the reference the direct path is checked against).</summary>
    public static void HashWithDotNet(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second, ReadOnlySpan<byte> third, Span<byte> destination)
    {
        var hasher = _threadHasher ??= IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hasher.AppendData(first);
        hasher.AppendData(second);
        hasher.AppendData(third);
        var written = hasher.GetHashAndReset(destination);
        Invariant.Check(written == MerkleHash.Size);
    }

    /// <summary>Lengths around SHA-256's block and padding boundaries, and a long input, each hashed both ways.</summary>
    private static bool AgreesWithDotNet()
    {
        var input = new byte[1000];
        for (var i = 0; i < input.Length; i++)
        {
            input[i] = (byte)(i * 7 + 3);
        }

        Span<byte> direct = stackalloc byte[MerkleHash.Size];
        Span<byte> reference = stackalloc byte[MerkleHash.Size];
        foreach (var length in (int[])[0, 1, 3, 33, 55, 56, 63, 64, 65, 119, 120, 128, 129, 300, 1000])
        {
            Hash(input.AsSpan(0, length), direct);
            reference.Clear();
            SHA256.HashData(input.AsSpan(0, length), reference);
            if (!direct.SequenceEqual(reference))
            {
                return false;
            }
        }

        // In three parts, as a node hash is fed.
        Hash(input.AsSpan(0, 1), input.AsSpan(1, 32), input.AsSpan(33, 32), direct);
        SHA256.HashData(input.AsSpan(0, 65), reference);
        return direct.SequenceEqual(reference);
    }
}
