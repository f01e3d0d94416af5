using CsCheck;

namespace Ledger.Hostile.Tests.Support;

/// <summary>How a valid message's bytes are spoiled.</summary>
internal enum Mutation
{
    FlipBit,
    Truncate,
    Extend,
    WrongWireType,
    HugeLengthPrefix,
    Duplicate,
}

/// <summary>Generators of hostile protobuf bodies: random bytes, and valid messages spoiled one way or another.</summary>
internal static class Mutations
{
    /// <summary>Random bytes as a message body, 0 to 512 of them.</summary>
    public static readonly Gen<byte[]> RandomBody = Gen.Byte.Array[0, 512];

    /// <summary>One of <paramref name="valid"/>, spoiled by a random mutation.</summary>
    public static Gen<(Mutation Kind, byte[] Body)> Of(IReadOnlyList<byte[]> valid) =>
        Gen.Select(Gen.Int[0, valid.Count - 1], Gen.Enum<Mutation>(), Gen.Int[0, int.MaxValue - 1], Gen.Byte.Array[1, 64])
            .Select(t => (t.Item2, Apply(valid[t.Item1], t.Item2, t.Item3, t.Item4)));

    /// <summary>Applies <paramref name="kind"/> to <paramref name="message"/>; <paramref name="position"/> and <paramref name="extra"/> choose where and what.</summary>
    public static byte[] Apply(byte[] message, Mutation kind, int position, byte[] extra)
    {
        var length = message.Length;
        switch (kind)
        {
            case Mutation.FlipBit when length > 0:
            {
                var copy = (byte[])message.Clone();
                var bit = position % (length * 8);
                copy[bit / 8] ^= (byte)(1 << (bit % 8));
                return copy;
            }

            case Mutation.Truncate when length > 0:
                return message[..(position % length)];

            case Mutation.WrongWireType when length > 0:
            {
                // The first byte is a field tag: keep the field number, change its wire type
                // (varint <-> length-delimited <-> fixed64 <-> fixed32, or a group marker).
                var copy = (byte[])message.Clone();
                var wireType = (copy[0] & 7) ^ (1 + (position % 5));
                copy[0] = (byte)((copy[0] & ~7) | (wireType & 7));
                return copy;
            }

            case Mutation.HugeLengthPrefix:
            {
                // A length-delimited field claiming about 4 GiB (or, by position, 2^63) followed by a few bytes.
                var fieldNumber = 1 + (position % 12);
                byte[] huge = position % 2 == 0 ? [0xFF, 0xFF, 0xFF, 0xFF, 0x0F] : [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F];
                return [.. message, (byte)((fieldNumber << 3) | 2), .. huge, .. extra];
            }

            case Mutation.Duplicate:
                return [.. message, .. message];

            default:
                return [.. message, .. extra];
        }
    }
}
