using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using System.Security.Cryptography;
using Ledger.Sdk;

namespace Ledger.Node.State;

/// <summary>
/// An in-memory Bloom filter over the digest index keys, so that apply skips the store lookup for
/// a digest that was certainly never anchored (the common case). Two bit positions per key, a
/// fixed number of bits (memory bounded whatever the log size; a fuller filter only answers
/// "maybe" more often, which costs a lookup, never a wrong answer). Until <see cref="MarkComplete"/>
/// (after the keys already stored have been added) every answer is "maybe".
/// </summary>
internal sealed class DigestFilter
{
    /// <summary>Default size: 2^28 bits (32 MiB); under 1% false positives at 10 million digests.</summary>
    public const int BitsLog2Default = 28;

    private readonly long[] _words;
    private readonly ulong _mask;
    private readonly ulong _seed = BinaryPrimitives.ReadUInt64LittleEndian(RandomNumberGenerator.GetBytes(8));
    private volatile bool _complete;

    public DigestFilter(int bitsLog2 = BitsLog2Default)
    {
        Invariant.Check(bitsLog2 is >= 10 and <= 34);
        // Pinned, so that Prefetch can hand the processor an address.
        _words = GC.AllocateArray<long>(1 << (bitsLog2 - 6), pinned: true);
        _mask = (1UL << bitsLog2) - 1;
    }

    public bool IsComplete => _complete;

    /// <summary>
    /// Asks the processor to bring the key's block into its caches ahead of
    /// <see cref="MayContainThenAdd"/>. The filter is far larger than the caches, so each key costs
    /// a miss; apply announces a whole batch's keys first, and their misses overlap instead of
    /// coming one after another. A hint only: nothing changes, and without SSE it does nothing.
    /// </summary>
    public unsafe void Prefetch(BitPositions positions)
    {
        if (Sse.IsSupported)
        {
            Sse.Prefetch0(Unsafe.AsPointer(ref _words[positions.First >> 6]));
        }
    }

    public void MarkComplete() => _complete = true;

    public void Add(ReadOnlySpan<byte> digestKey)
    {
        var (first, second) = Positions(digestKey);
        Interlocked.Or(ref _words[first >> 6], 1L << (int)(first & 63));
        Interlocked.Or(ref _words[second >> 6], 1L << (int)(second & 63));
    }

    /// <summary>
    /// <see cref="MayContain"/> and <see cref="Add"/> in one, touching the key's block once: the
    /// answer is for the filter as it was before this key was added.
    /// </summary>
    public bool MayContainThenAdd(BitPositions positions)
    {
        var (first, second) = positions;
        var firstBit = 1L << (int)(first & 63);
        var secondBit = 1L << (int)(second & 63);
        var firstWas = Interlocked.Or(ref _words[first >> 6], firstBit) & firstBit;
        var secondWas = Interlocked.Or(ref _words[second >> 6], secondBit) & secondBit;
        return !_complete || (firstWas != 0 && secondWas != 0);
    }

    /// <summary>False only when the key was certainly never added (and the filter is complete).</summary>
    public bool MayContain(ReadOnlySpan<byte> digestKey)
    {
        if (!_complete)
        {
            return true;
        }

        var (first, second) = Positions(digestKey);
        return (Volatile.Read(ref _words[first >> 6]) & (1L << (int)(first & 63))) != 0
            && (Volatile.Read(ref _words[second >> 6]) & (1L << (int)(second & 63))) != 0;
    }

    /// <summary>
    /// Both positions of a key fall in one 512-bit block (a 64-byte cache line's worth), chosen by
    /// the first mix; the second picks the two bits in it. A lookup or an add then touches one block
    /// of the large bit array instead of two random places: apply's cost per digest is dominated by
    /// such misses. Blocking raises the false-positive rate a little over a plain two-bit filter.
    /// </summary>
    private BitPositions Positions(ReadOnlySpan<byte> digestKey)
    {
        Invariant.Check(digestKey.Length > 1 + Leaf.DigestLength);
        return PositionsOf(digestKey[1..(1 + Leaf.DigestLength)], IssuerHash(digestKey[(1 + Leaf.DigestLength)..]));
    }

    /// <summary>The hash of an issuer's ASCII name that <see cref="PositionsOf"/> takes: computed once for all the digests of one entry.</summary>
    public static uint IssuerHash(ReadOnlySpan<byte> issuerAscii)
    {
        var hash = new HashCode();
        hash.AddBytes(issuerAscii);
        return (uint)hash.ToHashCode();
    }

    /// <summary>The positions of the digest key of <paramref name="digest"/> and an issuer (<see cref="IssuerHash"/>), as of that key.</summary>
    public BitPositions PositionsOf(ReadOnlySpan<byte> digest, uint issuerHash)
    {
        Invariant.Check(digest.Length == Leaf.DigestLength);
        var issuer = (ulong)issuerHash;
        var a = BinaryPrimitives.ReadUInt64LittleEndian(digest) ^ _seed ^ (issuer * 0x9E3779B97F4A7C15UL);
        var b = BinaryPrimitives.ReadUInt64LittleEndian(digest[8..]) ^ (_seed * 31) ^ issuer;
        var block = Mix(a) & _mask & ~(ulong)(BlockBits - 1);
        var bits = Mix(b);
        return new BitPositions(block | (bits & (BlockBits - 1)), block | ((bits >> 9) & (BlockBits - 1)));
    }

    /// <summary>The two bits of one digest key.</summary>
    public readonly record struct BitPositions(ulong First, ulong Second);

    private const int BlockBits = 512;

    private static ulong Mix(ulong value)
    {
        value ^= value >> 33;
        value *= 0xFF51AFD7ED558CCDUL;
        value ^= value >> 33;
        value *= 0xC4CEB9FE1A85EC53UL;
        return value ^ (value >> 33);
    }
}
