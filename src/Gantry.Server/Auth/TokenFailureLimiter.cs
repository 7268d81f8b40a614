using System.Net;
using System.Net.Sockets;
using Gantry.Server.Api;
using Gantry.Server.Configuration;
using Gantry.Server.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Gantry.Server.Auth;

/// <summary>
/// Slows down guessing tokens: an address whose requests were refused for a bad token
/// <see cref="ServerOptions.AuthFailureLimit"/> times within <see cref="ServerOptions.AuthFailureWindow"/>
/// (counted from its first failure) is limited until that window ends: its requests that present a
/// token the server does not know are answered 429 with <c>Retry-After</c>. A valid token is always
/// checked first and always let in, from any address: the admin on loopback and agents with their
/// credentials are never locked out, whatever else comes from their address.
/// </summary>
/// <remarks>
/// Memory is bounded: at most <see cref="ServerOptions.AuthFailureAddresses"/> addresses are remembered,
/// and past that the one whose window began first is forgotten. IPv6 addresses count per /64 (one host's
/// usual share). Every call is O(1); with no address remembered, a request takes no lock.
/// </remarks>
internal sealed class TokenFailureLimiter(ServerOptions options, TimeProvider time)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<IPAddress, LinkedListNode<Entry>> _byAddress = [];

    // Ordered by window start (every window is as long): the first one ends first.
    private readonly LinkedList<Entry> _byStart = new();
    private int _count;

    /// <summary>Addresses remembered now.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Whether <paramref name="address"/> is limited now, and for how much longer.</summary>
    public bool IsLimited(IPAddress address, out TimeSpan retryAfter)
    {
        retryAfter = TimeSpan.Zero;
        if (Volatile.Read(ref _count) == 0)
        {
            return false;
        }

        var key = Key(address);
        var now = time.GetUtcNow();
        lock (_lock)
        {
            ForgetEnded(now);
            if (!_byAddress.TryGetValue(key, out var node) || node.Value.Failures < options.AuthFailureLimit)
            {
                return false;
            }

            retryAfter = node.Value.Start + options.AuthFailureWindow - now;
            return true;
        }
    }

    /// <summary>Counts a request from <paramref name="address"/> refused for a bad token.</summary>
    public void Failed(IPAddress address)
    {
        var key = Key(address);
        var now = time.GetUtcNow();
        lock (_lock)
        {
            ForgetEnded(now);
            if (_byAddress.TryGetValue(key, out var node))
            {
                node.Value.Failures++;
                return;
            }

            if (_byAddress.Count >= options.AuthFailureAddresses && _byStart.First is { } oldest)
            {
                Forget(oldest);
            }

            _byAddress[key] = _byStart.AddLast(new Entry(key, now) { Failures = 1 });
            Volatile.Write(ref _count, _byAddress.Count);
        }
    }

    /// <summary>Forgets addresses whose window has ended (they are first in <see cref="_byStart"/>).</summary>
    private void ForgetEnded(DateTimeOffset now)
    {
        while (_byStart.First is { } first && first.Value.Start + options.AuthFailureWindow <= now)
        {
            Forget(first);
        }
    }

    private void Forget(LinkedListNode<Entry> node)
    {
        _byStart.Remove(node);
        _byAddress.Remove(node.Value.Address);
        Volatile.Write(ref _count, _byAddress.Count);
    }

    /// <summary>IPv4 as it is (mapped ones unmapped); IPv6 by its /64.</summary>
    private static IPAddress Key(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6 || IPAddress.IsLoopback(address))
        {
            return address;
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes);
    }

    private sealed class Entry(IPAddress address, DateTimeOffset start)
    {
        public IPAddress Address { get; } = address;

        public DateTimeOffset Start { get; } = start;

        public int Failures { get; set; }
    }
}

/// <summary>The middleware that applies <see cref="TokenFailureLimiter"/> to requests with an <c>Authorization</c> header.</summary>
internal static class TokenFailureLimit
{
    /// <summary>
    /// Answers 429 to a limited address's requests whose token is not valid, and counts every request
    /// with a token that was answered 401. Requests without an <c>Authorization</c> header pass untouched.
    /// </summary>
    public static void UseTokenFailureLimit(this IApplicationBuilder app) => app.Use(static async (context, next) =>
    {
        if (context.Request.Headers.Authorization.Count == 0 || context.Connection.RemoteIpAddress is not { } address)
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        var limiter = context.RequestServices.GetRequiredService<TokenFailureLimiter>();
        if (limiter.IsLimited(address, out var retryAfter) && !IsValid(context))
        {
            await Problems.TooManyRequests(context.Response, retryAfter, "too many requests with a bad token came from this address; try again later with a valid token")
                .ExecuteAsync(context).ConfigureAwait(false);
            return;
        }

        await next(context).ConfigureAwait(false);
        if (context.Response.StatusCode == StatusCodes.Status401Unauthorized)
        {
            limiter.Failed(address);
        }
    });

    /// <summary>Whether the request's bearer token is one the server knows: a person's valid token (the admin's too), the join token, or a node's credential.</summary>
    private static bool IsValid(HttpContext context)
    {
        if (Authorization.Presented(context.Request) is not { } hash)
        {
            return false;
        }

        var tokens = context.RequestServices.GetRequiredService<TokenStore>();
        return tokens.Authenticate(hash).Check == TokenCheck.Valid || tokens.IsJoin(hash) || context.RequestServices.GetRequiredService<NodeRegistry>().NodeForCredential(hash) is not null;
    }
}
