using Ledger.Node.State;

namespace Ledger.Node.Tests;

public sealed class DigestFilterTests
{
    private static byte[] Key(int i, string issuer = "alpha")
    {
        var digest = System.Security.Cryptography.SHA256.HashData(BitConverter.GetBytes(i));
        return StateKeys.DigestKey(digest, issuer);
    }

    /// <summary>The positions of <see cref="Key"/>, from the digest and the issuer's hash as apply computes them.</summary>
    private static DigestFilter.BitPositions Positions(DigestFilter filter, int i, string issuer = "alpha") =>
        filter.PositionsOf(System.Security.Cryptography.SHA256.HashData(BitConverter.GetBytes(i)), DigestFilter.IssuerHash(System.Text.Encoding.ASCII.GetBytes(issuer)));

    [Fact]
    public void Everything_is_maybe_until_complete_and_added_keys_are_always_maybe()
    {
        var filter = new DigestFilter(16);
        Assert.True(filter.MayContain(Key(1)));
        for (var i = 0; i < 1000; i++)
        {
            filter.Add(Key(i));
        }

        filter.MarkComplete();
        Assert.All(Enumerable.Range(0, 1000), i => Assert.True(filter.MayContain(Key(i))));
        var falsePositives = Enumerable.Range(1000, 10_000).Count(i => filter.MayContain(Key(i)));
        Assert.True(falsePositives < 500, $"{falsePositives} false positives of 10,000");
        Assert.False(filter.MayContain(Key(1, "beta")) && filter.MayContain(Key(2, "beta")) && filter.MayContain(Key(3, "beta")));
    }

    [Fact]
    public void Checking_and_adding_in_one_answers_for_the_filter_before_the_key()
    {
        var filter = new DigestFilter(20);
        Assert.True(filter.MayContainThenAdd(Positions(filter, 1)));
        Assert.True(filter.MayContain(Key(1)));
        filter.MarkComplete();

        // A new key: absent before, present after (asked by key); the same key again: present.
        var absentBefore = Enumerable.Range(2, 200).Count(i => !filter.MayContainThenAdd(Positions(filter, i)));
        Assert.True(absentBefore >= 195, $"only {absentBefore} of 200 new keys answered absent");
        Assert.All(Enumerable.Range(1, 201), i => Assert.True(filter.MayContain(Key(i))));
        Assert.All(Enumerable.Range(1, 201), i => Assert.True(filter.MayContainThenAdd(Positions(filter, i))));
        Assert.False(filter.MayContainThenAdd(Positions(filter, 5, "beta")) && filter.MayContainThenAdd(Positions(filter, 6, "beta")) && filter.MayContainThenAdd(Positions(filter, 7, "beta")));
        Assert.False(filter.MayContain(Key(5, "beta")) && filter.MayContain(Key(6, "beta")) && filter.MayContain(Key(7, "beta")));
    }

    [Fact]
    public void A_filter_a_tenth_full_keeps_false_positives_near_those_of_a_plain_two_bit_filter()
    {
        // 2^20 bits, 50,000 keys: a plain two-bit filter would give (1 - e^(-100,000 / 2^20))^2 = 0.83 %.
        var filter = new DigestFilter(20);
        for (var i = 0; i < 50_000; i++)
        {
            filter.Add(Key(i));
        }

        filter.MarkComplete();
        Assert.All(Enumerable.Range(0, 50_000), i => Assert.True(filter.MayContain(Key(i))));
        var falsePositives = Enumerable.Range(50_000, 100_000).Count(i => filter.MayContain(Key(i)));
        Assert.InRange(falsePositives, 1, 1_300);
    }
}
