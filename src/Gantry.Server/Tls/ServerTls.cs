using System.Net.Security;
using Gantry.Server.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Tls;

/// <summary>
/// HTTPS for the server (docs/tls.md): <c>--tls-cert</c>/<c>--tls-key</c> or <c>--tls auto</c>. Kestrel asks
/// <see cref="ServerCertificate"/> for the certificate at every handshake, so replaced files are served
/// without a restart; <see cref="CaPath"/> hands out the CA clients pin.
/// </summary>
internal sealed class ServerTls
{
    /// <summary>Where clients fetch the CA whose pin they were given (no token needed: it is public).</summary>
    public const string CaPath = "/api/v1/tls/ca";

    private ServerTls(ServerCertificate certificate, AutoTls.Files? auto)
    {
        Certificate = certificate;
        Auto = auto;
    }

    /// <summary>The certificate served, reloaded when its files change.</summary>
    public ServerCertificate Certificate { get; }

    /// <summary>With <c>--tls auto</c>: the files in the data dir; null with <c>--tls-cert</c>.</summary>
    public AutoTls.Files? Auto { get; }

    /// <summary>
    /// The certificate files to serve from: <c>--tls-cert</c>/<c>--tls-key</c>, or with <c>--tls auto</c> those in
    /// the data dir (made or renewed now); null for plain HTTP.
    /// </summary>
    public static AutoTls.Files? Prepare(ServerOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.TlsAuto)
        {
            return AutoTls.Ensure(options.DataDir, options.Listen, time);
        }

        return options.TlsCert is { } certificate && options.TlsKey is { } key ? new AutoTls.Files(certificate, key, certificate, []) : null;
    }

    /// <summary>Registers the certificate read from <paramref name="files"/> (read at the first handshake, or when asked for).</summary>
    public static void AddServices(IServiceCollection services, AutoTls.Files files, bool auto, TimeProvider time) =>
        services.AddSingleton(sp => new ServerTls(
            new ServerCertificate(files.CertificatePath, files.KeyPath, time, sp.GetRequiredService<ILoggerFactory>().CreateLogger("Gantry.Server.Tls")),
            auto ? files : null));

    /// <summary>Serves HTTPS on <paramref name="listen"/> with the certificate <see cref="AddServices"/> registered.</summary>
    public static void UseHttps(ListenOptions listen)
    {
        ArgumentNullException.ThrowIfNull(listen);
        listen.UseHttps(new TlsHandshakeCallbackOptions
        {
            OnConnection = static context =>
            {
                var tls = ((ListenOptions)context.State!).ApplicationServices.GetRequiredService<ServerTls>();
                return ValueTask.FromResult(new SslServerAuthenticationOptions
                {
                    ServerCertificateContext = tls.Certificate.Current,
                    ApplicationProtocols = [SslApplicationProtocol.Http11],
                });
            },
            OnConnectionState = listen,
        });
    }

    /// <summary><c>GET /api/v1/tls/ca</c>: the pinned CA as PEM.</summary>
    public static void MapCaEndpoint(IEndpointRouteBuilder app) =>
        app.MapGet(CaPath, (HttpContext http) => http.RequestServices.GetService<ServerTls>() is { } tls
            ? Results.Text(tls.Certificate.Pair.Pinned.ExportCertificatePem() + "\n", "application/x-pem-file")
            : Results.NotFound());
}
