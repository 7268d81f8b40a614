namespace Gantry.Server.Storage;

/// <summary>The store cannot be used (a newer schema, a file that is not a database, a server that refuses).</summary>
internal sealed class StoreException(string message) : Exception(message);
