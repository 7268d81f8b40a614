namespace Gantry.Server.Storage;

/// <summary>
/// The store's database server cannot be used at all: it is unreachable, refuses the login, or has no
/// such database. A problem with the address given (<c>--store</c>), not with the data, so
/// <c>gantry server</c> ends as for a bad setting.
/// </summary>
internal sealed class StoreConnectionException(string address, string reason, Exception innerException)
    : Exception($"cannot connect to {address}: {reason}", innerException)
{
    /// <summary>The database as a URL without its password (<c>postgres://user@host:5432/db</c>).</summary>
    public string Address { get; } = address;

    /// <summary>What the server or the network said ("Connection refused", "database \"x\" does not exist").</summary>
    public string Reason { get; } = reason;
}
