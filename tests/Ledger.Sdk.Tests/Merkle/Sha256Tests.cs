using System.Security.Cryptography;
using CsCheck;
using Ledger.Sdk.Merkle;

namespace Ledger.Sdk.Tests.Merkle;

public sealed class Sha256Tests
{
    [Fact]
    public void On_linux_the_tree_hashes_with_libcrypto_directly()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable(Sha256.PortableSwitch) == "1")
        {
            Assert.Null(Sha256.Library);
            return;
        }

        // .NET itself needs libcrypto on Linux, so the direct path is found (and agreed with .NET at first use).
        Assert.Contains(Sha256.Library, new[] { "libcrypto.so.3", "libcrypto.so.1.1" });
    }

    [Fact]
    public void Any_input_in_up_to_three_parts_hashes_as_dotnet_does()
    {
        Gen.Select(Gen.Byte.Array[0, 700], Gen.Int[0, 700], Gen.Int[0, 700]).Sample((bytes, cut1, cut2) =>
        {
            var first = Math.Min(cut1, bytes.Length);
            var second = Math.Min(cut2, bytes.Length - first);
            var direct = new byte[MerkleHash.Size];
            var portable = new byte[MerkleHash.Size];
            Sha256.Hash(bytes.AsSpan(0, first), bytes.AsSpan(first, second), bytes.AsSpan(first + second), direct);
            Sha256.HashWithDotNet(bytes.AsSpan(0, first), bytes.AsSpan(first, second), bytes.AsSpan(first + second), portable);
            Assert.Equal(SHA256.HashData(bytes), direct);
            Assert.Equal(portable, direct);
        }, iter: 3_000);
    }

    [Fact]
    public void The_destination_may_overlap_the_input_and_only_its_first_32_bytes_change()
    {
        var buffer = RandomNumberGenerator.GetBytes(100);
        var expected = SHA256.HashData(buffer.AsSpan(0, 65));
        var tail = buffer[32..].ToArray();
        Sha256.Hash(buffer.AsSpan(0, 1), buffer.AsSpan(1, 32), buffer.AsSpan(33, 32), buffer);
        Assert.Equal(expected, buffer[..32]);
        Assert.Equal(tail, buffer[32..]);
    }

    [Fact]
    public void A_destination_shorter_than_a_hash_is_refused_before_anything_is_written()
    {
        var destination = new byte[31];
        Assert.Throws<InvalidOperationException>(() => Sha256.Hash([1, 2, 3], destination));
        Assert.All(destination, b => Assert.Equal(0, b));
    }
}
