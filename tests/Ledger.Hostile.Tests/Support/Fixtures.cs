namespace Ledger.Hostile.Tests.Support;

/// <summary>One single-member ledger shared by the tests of a collection (each test checks it is unchanged and still serving).</summary>
public sealed class SingleNodeFixture : IAsyncLifetime
{
    internal HostileLedger Ledger { get; private set; } = null!;

    public async Task InitializeAsync() => Ledger = await HostileLedger.StartAsync(1);

    public async Task DisposeAsync() => await Ledger.DisposeAsync();
}

/// <summary>A three-member consortium shared by the tests of a collection.</summary>
public sealed class ConsortiumFixture : IAsyncLifetime
{
    internal HostileLedger Ledger { get; private set; } = null!;

    public async Task InitializeAsync() => Ledger = await HostileLedger.StartAsync(3);

    public async Task DisposeAsync() => await Ledger.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class SingleNodeGroup : ICollectionFixture<SingleNodeFixture>
{
    public const string Name = "single node";
}

[CollectionDefinition(Name)]
public sealed class ConsortiumGroup : ICollectionFixture<ConsortiumFixture>
{
    public const string Name = "consortium";
}
