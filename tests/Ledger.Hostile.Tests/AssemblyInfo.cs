// Every test attacks real node processes; on a 2-core machine they must not compete with each other.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
