// One browser and one gantry process per test class; running classes side by side on two cores
// would only make each wait longer for the other, so they run one after the other.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
