namespace Gantry.Testing;

/// <summary>
/// A test that needs PostgreSQL: skipped where none can be had, except with <c>CI=true</c>, where it runs
/// and fails (<see cref="PostgresDatabase.CreateAsync"/> says why), as every missing dependency does there.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class PostgresFactAttribute : FactAttribute
{
    public PostgresFactAttribute()
    {
        Skip = PostgresServer.SkipReason;
    }
}

/// <summary>A theory that needs PostgreSQL; skipped or failed as <see cref="PostgresFactAttribute"/> says.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class PostgresTheoryAttribute : TheoryAttribute
{
    public PostgresTheoryAttribute()
    {
        Skip = PostgresServer.SkipReason;
    }
}
