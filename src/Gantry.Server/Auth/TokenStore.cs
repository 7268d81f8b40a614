using System.Security.Cryptography;
using Gantry.Core.Protocol;
using Gantry.Server.Configuration;
using Gantry.Server.FairShare;
using Gantry.Server.Storage;

namespace Gantry.Server.Auth;

/// <summary>
/// The tokens of people and of joining agents (hashes only). The admin token (<c>admin.token</c>, the
/// person <see cref="Person.AdminName"/>) and the join token are read at start, and
/// <see cref="EnsureTokens"/> makes the missing ones; people's tokens are made and revoked through
/// <see cref="Create"/> and <see cref="Revoke"/>. Node credentials belong to the node registry.
/// </summary>
/// <remarks>
/// A request finds its token by hash in one dictionary lookup, whatever the number of tokens. The
/// dictionaries are replaced, never changed, under <see cref="_lock"/> (tokens change rarely), so
/// readers take no lock. The lookup compares SHA-256 hashes, not secrets: how long it takes tells
/// nothing about a secret.
/// </remarks>
internal sealed class TokenStore : IAccountLimits
{
    private readonly Lock _lock = new();
    private readonly IStateStore _store;
    private readonly ServerOptions _options;
    private readonly TimeProvider _time;
    private byte[]? _adminHash;
    private byte[]? _joinHash;
    private Tables _tables;

    public TokenStore(IStateStore store, StoredState state, ServerOptions options, TimeProvider time)
    {
        _store = store;
        _options = options;
        _time = time;
        _adminHash = state.Tokens.GetValueOrDefault("admin");
        _joinHash = state.Tokens.GetValueOrDefault("join");
        var tables = new Tables();
        foreach (var row in state.People)
        {
            tables.Add(row);
        }

        _tables = tables;
    }

    /// <summary>
    /// Makes sure the admin and join tokens exist: generated at first start and written to
    /// <c>admin.token</c> / <c>join.token</c> in the data dir; a join token given in the options
    /// replaces the stored one. Returns the paths of files written now.
    /// </summary>
    public IReadOnlyList<string> EnsureTokens()
    {
        var written = new List<string>();
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            if (_adminHash is null)
            {
                var token = Tokens.New("gadm_");
                var path = Path.Combine(_options.DataDir, "admin.token");
                var hash = Tokens.Hash(token);
                _store.Write(w => w.SaveToken("admin", hash, now));
                Tokens.WriteFile(path, token);
                Volatile.Write(ref _adminHash, hash);
                written.Add(path);
            }

            if (_options.JoinToken is { } given)
            {
                var hash = Tokens.Hash(given);
                if (!Tokens.Matches(hash, _joinHash))
                {
                    _store.Write(w => w.SaveToken("join", hash, now));
                    Volatile.Write(ref _joinHash, hash);
                }
            }
            else if (_joinHash is null)
            {
                var token = Tokens.New("gjoin_");
                var path = Path.Combine(_options.DataDir, "join.token");
                var hash = Tokens.Hash(token);
                _store.Write(w => w.SaveToken("join", hash, now));
                Tokens.WriteFile(path, token);
                Volatile.Write(ref _joinHash, hash);
                written.Add(path);
            }
        }

        return written;
    }

    /// <summary>The built-in admin token's <see cref="Prefix"/> (a login link signs in as admin); null before it exists.</summary>
    public string? AdminPrefix => Volatile.Read(ref _adminHash) is { } hash ? Prefix(hash) : null;

    /// <summary>True when the presented token is the admin token.</summary>
    public bool IsAdmin(byte[] tokenHash) => Tokens.Matches(tokenHash, Volatile.Read(ref _adminHash));

    /// <summary>True when the presented token is the join token.</summary>
    public bool IsJoin(byte[] tokenHash) => Tokens.Matches(tokenHash, Volatile.Read(ref _joinHash));

    /// <summary>
    /// The person whose token this is, when it may be used now: <see cref="TokenCheck.Valid"/> with the
    /// person; <see cref="TokenCheck.Expired"/> or <see cref="TokenCheck.Revoked"/> with the person it was;
    /// <see cref="TokenCheck.Unknown"/> with null for any other token (the join token, a node credential).
    /// </summary>
    public (TokenCheck Check, Person? Person) Authenticate(byte[] tokenHash)
    {
        ArgumentNullException.ThrowIfNull(tokenHash);
        if (IsAdmin(tokenHash))
        {
            return (TokenCheck.Valid, Person.Admin);
        }

        if (!Volatile.Read(ref _tables).ByHash.TryGetValue(tokenHash, out var person))
        {
            return (TokenCheck.Unknown, null);
        }

        return person.Status(_time.GetUtcNow()) switch
        {
            "revoked" => (TokenCheck.Revoked, person),
            "expired" => (TokenCheck.Expired, person),
            _ => (TokenCheck.Valid, person),
        };
    }

    /// <summary>
    /// The person of that name whose token is valid now and has the hash that starts with
    /// <paramref name="hashPrefix"/> (a dashboard session names the token it was opened with); null otherwise.
    /// </summary>
    public Person? Current(string name, string hashPrefix)
    {
        if (name == Person.AdminName)
        {
            return Volatile.Read(ref _adminHash) is { } admin && Prefix(admin) == hashPrefix ? Person.Admin : null;
        }

        return Volatile.Read(ref _tables).ByName.TryGetValue(name, out var row)
            && row.Person.Status(_time.GetUtcNow()) == "active" && Prefix(row.Hash) == hashPrefix
                ? row.Person
                : null;
    }

    /// <summary>
    /// A short, non-secret name of a token (the first bytes of its hash, as hex): a dashboard session keeps
    /// it so that revoking the token ends the session.
    /// </summary>
    public static string Prefix(byte[] tokenHash) => Convert.ToHexString(tokenHash.AsSpan(0, 8));

    /// <summary>
    /// The person of that name (the owner of a job), whatever the state of their token: their limits
    /// (<see cref="Person.MaxGpus"/>, <see cref="Person.MaxPending"/>) for the features that enforce
    /// them. Null for a name no token has. One dictionary read.
    /// </summary>
    public Person? Find(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name == Person.AdminName ? Person.Admin
            : Volatile.Read(ref _tables).ByName.TryGetValue(name, out var row) ? row.Person : null;
    }

    /// <summary>The fair-share account's limits: its token's <c>--max-gpus</c> and <c>--max-pending</c> (one dictionary read).</summary>
    public AccountLimits? For(string account) =>
        Find(account) is { } person && (person.MaxGpus is not null || person.MaxPending is not null) ? new AccountLimits(person.MaxGpus, person.MaxPending) : null;

    /// <summary>Every person's token by name, the built-in admin token first.</summary>
    public IReadOnlyList<Person> List()
    {
        var tables = Volatile.Read(ref _tables);
        var people = new List<Person>(tables.ByName.Count + 1) { Person.Admin };
        foreach (var row in tables.ByName.Values)
        {
            people.Add(row.Person);
        }

        people.Sort(static (a, b) => a.Builtin == b.Builtin ? string.CompareOrdinal(a.Name, b.Name) : a.Builtin ? -1 : 1);
        return people;
    }

    /// <summary>
    /// Makes a token for a person; returns the secret (only its hash is stored) and the person, or a
    /// conflict when a valid token of that name exists. A revoked or expired token of the same name is
    /// replaced. The request must have been validated (<see cref="TokenValidation"/>).
    /// </summary>
    public (string? Secret, Person? Person, string? Conflict) Create(CreateTokenRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            var tables = _tables;
            if (request.Name == Person.AdminName)
            {
                return (null, null, "the name admin belongs to the admin token in <data-dir>/admin.token");
            }

            if (tables.ByName.TryGetValue(request.Name, out var existing) && existing.Person.Status(now) == "active")
            {
                return (null, null, $"a token named {request.Name} exists; revoke it first ('gantry tokens revoke {request.Name}')");
            }

            var secret = Tokens.New("gtok_");
            var person = new Person
            {
                Name = request.Name,
                Role = request.Role,
                UnixUser = request.UnixUser,
                AllowRoot = request.AllowRoot,
                MaxGpus = request.MaxGpus,
                MaxPending = request.MaxPending,
                CreatedAt = now,
                ExpiresAt = request.ExpiresInSeconds is { } seconds ? now + TimeSpan.FromSeconds(seconds) : null,
            };
            var row = new PersonRow(person, Tokens.Hash(secret));
            _store.Write(w => w.SavePerson(row));
            Volatile.Write(ref _tables, tables.With(row, existing));
            return (secret, person, null);
        }
    }

    /// <summary>
    /// Revokes a person's token: it is refused from now on. Returns the revoked person (or the one already
    /// revoked); null when no token has that name. The admin token cannot be revoked (the caller says so).
    /// </summary>
    public Person? Revoke(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        lock (_lock)
        {
            var tables = _tables;
            if (!tables.ByName.TryGetValue(name, out var existing))
            {
                return null;
            }

            if (existing.Person.RevokedAt is not null)
            {
                return existing.Person;
            }

            var row = existing with { Person = existing.Person with { RevokedAt = _time.GetUtcNow() } };
            _store.Write(w => w.SavePerson(row));
            Volatile.Write(ref _tables, tables.With(row, existing));
            return row.Person;
        }
    }

    /// <summary>The people's tokens by hash and by name; never changed once published.</summary>
    private sealed class Tables
    {
        public Dictionary<byte[], Person> ByHash { get; } = new(HashComparer.Instance);

        public Dictionary<string, PersonRow> ByName { get; } = new(StringComparer.Ordinal);

        public void Add(PersonRow row)
        {
            ByHash[row.Hash] = row.Person;
            ByName[row.Person.Name] = row;
        }

        /// <summary>A copy with <paramref name="row"/> in place of <paramref name="replaced"/>.</summary>
        public Tables With(PersonRow row, PersonRow? replaced)
        {
            var copy = new Tables();
            foreach (var other in ByName.Values)
            {
                if (!ReferenceEquals(other, replaced))
                {
                    copy.Add(other);
                }
            }

            copy.Add(row);
            return copy;
        }
    }

    /// <summary>SHA-256 hashes as dictionary keys: their first bytes are already uniformly spread.</summary>
    private sealed class HashComparer : IEqualityComparer<byte[]>
    {
        public static readonly HashComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) =>
            x is not null && y is not null && x.Length == y.Length && CryptographicOperations.FixedTimeEquals(x, y);

        public int GetHashCode(byte[] obj) => obj.Length >= sizeof(int) ? BitConverter.ToInt32(obj, 0) : obj.Length;
    }
}

/// <summary>What <see cref="TokenStore.Authenticate"/> found.</summary>
internal enum TokenCheck
{
    /// <summary>No person's token (it may be the join token or a node credential).</summary>
    Unknown,

    /// <summary>A person's token that may be used now.</summary>
    Valid,

    /// <summary>A person's token past its expiry.</summary>
    Expired,

    /// <summary>A person's token that was revoked.</summary>
    Revoked,
}
