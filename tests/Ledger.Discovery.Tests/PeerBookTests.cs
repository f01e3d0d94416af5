using System.Net;

namespace Ledger.Discovery.Tests;

public sealed class PeerBookTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 29, 12, 0, 0, TimeSpan.Zero);
    private readonly string _directory = Directory.CreateTempSubdirectory("ledger-peerbook-").FullName;

    private string BookPath => Path.Combine(_directory, "peers.db");

    [Fact]
    public void A_verified_address_is_kept_and_replaced_by_the_next_one()
    {
        using var book = new PeerBook(BookPath);
        book.RecordVerified("member-b", new IPEndPoint(IPAddress.Parse("10.0.0.2"), 7400), T0);
        book.RecordVerified("member-b", new IPEndPoint(IPAddress.Parse("10.0.0.3"), 7401), T0.AddMinutes(1));

        var entry = book.Get("member-b");
        Assert.NotNull(entry);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.0.0.3"), 7401), entry.Address);
        Assert.Equal(T0.AddMinutes(1), entry.VerifiedAt);
        Assert.Equal(1, book.Count);
        Assert.Null(book.Get("member-c"));
    }

    [Fact]
    public void Entries_survive_reopening_and_are_listed_by_member_name()
    {
        using (var book = new PeerBook(BookPath))
        {
            book.RecordVerified("member-c", new IPEndPoint(IPAddress.Parse("10.0.0.3"), 7400), T0);
            book.RecordVerified("member-a", new IPEndPoint(IPAddress.Parse("fd00::1"), 7400), T0);
        }

        using var reopened = new PeerBook(BookPath);
        Assert.Equal(["member-a", "member-c"], reopened.List().Select(entry => entry.MemberName));
        Assert.Equal(IPAddress.Parse("fd00::1"), reopened.Get("member-a")!.Address.Address);
    }

    [Fact]
    public void Seeing_a_member_moves_its_last_seen_time_forward_only_and_never_creates_an_entry()
    {
        using var book = new PeerBook(BookPath);
        Assert.False(book.RecordSeen("member-x", T0));
        Assert.Null(book.Get("member-x"));

        book.RecordVerified("member-b", new IPEndPoint(IPAddress.Loopback, 7400), T0);
        Assert.True(book.RecordSeen("member-b", T0.AddMinutes(5)));
        Assert.True(book.RecordSeen("member-b", T0.AddMinutes(2)));
        var entry = book.Get("member-b")!;
        Assert.Equal(T0.AddMinutes(5), entry.LastSeenAt);
        Assert.Equal(T0, entry.VerifiedAt);
    }

    [Fact]
    public void A_full_book_forgets_the_least_recently_seen_member()
    {
        using var book = new PeerBook(BookPath, peersMax: 3);
        book.RecordVerified("m1", new IPEndPoint(IPAddress.Loopback, 1), T0);
        book.RecordVerified("m2", new IPEndPoint(IPAddress.Loopback, 2), T0.AddSeconds(1));
        book.RecordVerified("m3", new IPEndPoint(IPAddress.Loopback, 3), T0.AddSeconds(2));
        book.RecordSeen("m1", T0.AddSeconds(10));

        book.RecordVerified("m4", new IPEndPoint(IPAddress.Loopback, 4), T0.AddSeconds(3));
        Assert.Equal(["m1", "m3", "m4"], book.List().Select(entry => entry.MemberName));

        // Updating an existing member never evicts.
        book.RecordVerified("m3", new IPEndPoint(IPAddress.Loopback, 33), T0.AddSeconds(4));
        Assert.Equal(3, book.Count);
    }

    [Fact]
    public void Lookups_by_member_name_use_the_index_and_removal_forgets()
    {
        using var book = new PeerBook(BookPath);
        book.RecordVerified("member-b", new IPEndPoint(IPAddress.Loopback, 7400), T0);
        Assert.Equal("$.member", book.ExplainLookup("member-b"));
        Assert.True(book.Remove("member-b"));
        Assert.False(book.Remove("member-b"));
        Assert.Null(book.Get("member-b"));
    }

    [Fact]
    public void Bad_arguments_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new PeerBook(BookPath, peersMax: 0));
        using var book = new PeerBook(BookPath);
        Assert.Throws<ArgumentException>(() => book.RecordVerified("", new IPEndPoint(IPAddress.Loopback, 1), T0));
        Assert.Throws<ArgumentNullException>(() => book.RecordVerified("m", null!, T0));
        Assert.Equal(0, book.Count);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
