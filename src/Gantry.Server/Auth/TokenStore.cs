using Gantry.Server.Configuration;
using Gantry.Server.Storage;

namespace Gantry.Server.Auth;

/// <summary>
/// The admin and join tokens (hashes only). Read at start; <see cref="EnsureTokens"/> makes the
/// missing ones. Node credentials belong to the node registry.
/// </summary>
internal sealed class TokenStore
{
    private readonly Lock _lock = new();
    private readonly IStateStore _store;
    private readonly ServerOptions _options;
    private readonly TimeProvider _time;
    private byte[]? _adminHash;
    private byte[]? _joinHash;

    public TokenStore(IStateStore store, StoredState state, ServerOptions options, TimeProvider time)
    {
        _store = store;
        _options = options;
        _time = time;
        _adminHash = state.Tokens.GetValueOrDefault("admin");
        _joinHash = state.Tokens.GetValueOrDefault("join");
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

    /// <summary>True when the presented token is the admin token.</summary>
    public bool IsAdmin(byte[] tokenHash) => Tokens.Matches(tokenHash, Volatile.Read(ref _adminHash));

    /// <summary>True when the presented token is the join token.</summary>
    public bool IsJoin(byte[] tokenHash) => Tokens.Matches(tokenHash, Volatile.Read(ref _joinHash));
}
