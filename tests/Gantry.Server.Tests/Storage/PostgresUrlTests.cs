using Gantry.Server.Storage.Postgres;
using Npgsql;

namespace Gantry.Server.Tests.Storage;

/// <summary>
/// PostgresUrl: each result is read back through Npgsql's own builder, so a keyword
/// Npgsql does not know, or a value it cannot parse, fails here rather than in a server.
/// </summary>
public sealed class PostgresUrlTests
{
    [Fact]
    public void ToConnectionString_FullUrl_MapsEveryPart()
    {
        var builder = Parse("postgres://gantry:s3cret@db.example.com:6543/fleet");

        Assert.Equal("db.example.com", builder.Host);
        Assert.Equal(6543, builder.Port);
        Assert.Equal("gantry", builder.Username);
        Assert.Equal("s3cret", builder.Password);
        Assert.Equal("fleet", builder.Database);
    }

    [Theory]
    [InlineData("postgres://postgres@127.0.0.1/gantry")]
    [InlineData("postgresql://postgres@127.0.0.1/gantry")]
    [InlineData("PostgreSQL://postgres@127.0.0.1/gantry")]
    public void ToConnectionString_EitherScheme_DefaultPort(string url)
    {
        var builder = Parse(url);

        Assert.Equal("127.0.0.1", builder.Host);
        Assert.Equal(PostgresUrl.DefaultPort, builder.Port);
        Assert.Equal("postgres", builder.Username);
        Assert.Null(builder.Password);
        Assert.Equal("gantry", builder.Database);
    }

    [Fact]
    public void ToConnectionString_HostOnly_NoUserNoDatabase()
    {
        var builder = Parse("postgres://db");

        Assert.Equal("db", builder.Host);
        Assert.Equal(5432, builder.Port);
        Assert.Null(builder.Username);
        Assert.Null(builder.Database);
    }

    [Fact]
    public void ToConnectionString_PercentEncodedParts_AreDecoded()
    {
        // A password with every character a connection string or a URL treats specially.
        var builder = Parse("postgres://ops%40fleet:p%40ss%3Bw%3Dord%2F%23%25@db:5432/my%20db");

        Assert.Equal("ops@fleet", builder.Username);
        Assert.Equal("p@ss;w=ord/#%", builder.Password);
        Assert.Equal("my db", builder.Database);
    }

    [Fact]
    public void ToConnectionString_UnencodedAtInPassword_SplitsAtTheLastAt()
    {
        var builder = Parse("postgres://gantry:p@ss@db/fleet");

        Assert.Equal("gantry", builder.Username);
        Assert.Equal("p@ss", builder.Password);
        Assert.Equal("db", builder.Host);
    }

    [Fact]
    public void ToConnectionString_Ipv6Host_LosesItsBrackets()
    {
        var builder = Parse("postgres://postgres@[::1]:5433/gantry");

        Assert.Equal("::1", builder.Host);
        Assert.Equal(5433, builder.Port);
    }

    [Theory]
    [InlineData("disable", SslMode.Disable)]
    [InlineData("allow", SslMode.Allow)]
    [InlineData("prefer", SslMode.Prefer)]
    [InlineData("require", SslMode.Require)]
    [InlineData("verify-ca", SslMode.VerifyCA)]
    [InlineData("verify-full", SslMode.VerifyFull)]
    public void ToConnectionString_SslMode_BecomesNpgsqlsMode(string sslmode, SslMode expected)
    {
        Assert.Equal(expected, Parse($"postgres://u@db/fleet?sslmode={sslmode}").SslMode);
    }

    [Fact]
    public void ToConnectionString_LibpqParameters_BecomeNpgsqlKeywords()
    {
        var builder = Parse(
            "postgres://u@db/fleet?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&sslcert=%2Fc.pem&sslkey=%2Fk.pem&sslpassword=kp"
            + "&application_name=gantry%20server&connect_timeout=7&options=-c%20search_path%3Dgantry"
            + "&target_session_attrs=read-write&client_encoding=UTF8&channel_binding=require&gssencmode=disable"
            + "&krbsrvname=pg&keepalives_idle=30&keepalives_interval=5");

        Assert.Equal(SslMode.VerifyFull, builder.SslMode);
        Assert.Equal("/etc/ca.pem", builder.RootCertificate);
        Assert.Equal("/c.pem", builder.SslCertificate);
        Assert.Equal("/k.pem", builder.SslKey);
        Assert.Equal("kp", builder.SslPassword);
        Assert.Equal("gantry server", builder.ApplicationName);
        Assert.Equal(7, builder.Timeout);
        Assert.Equal("-c search_path=gantry", builder.Options);
        Assert.Equal("read-write", builder.TargetSessionAttributes);
        Assert.Equal("UTF8", builder.ClientEncoding);
        Assert.Equal(ChannelBinding.Require, builder.ChannelBinding);
        Assert.Equal(GssEncryptionMode.Disable, builder.GssEncryptionMode);
        Assert.Equal("pg", builder.KerberosServiceName);
        Assert.Equal(30, builder.TcpKeepAliveTime);
        Assert.Equal(5, builder.TcpKeepAliveInterval);
    }

    [Fact]
    public void ToConnectionString_QueryUserPasswordDatabase_OverrideTheUrls()
    {
        var builder = Parse("postgres://a:b@db/c?user=x&password=y&dbname=z&port=6000");

        Assert.Equal("x", builder.Username);
        Assert.Equal("y", builder.Password);
        Assert.Equal("z", builder.Database);
        Assert.Equal(6000, builder.Port);
    }

    [Fact]
    public void ToConnectionString_HostInQuery_NamesAUnixSocketFolder()
    {
        var builder = Parse("postgres:///fleet?host=%2Fvar%2Frun%2Fpostgresql");

        Assert.Equal("/var/run/postgresql", builder.Host);
        Assert.Equal("fleet", builder.Database);
    }

    [Fact]
    public void ToConnectionString_NpgsqlKeywordInQuery_IsPassedThrough()
    {
        var builder = Parse("postgres://u@db/fleet?Maximum%20Pool%20Size=50&Include%20Error%20Detail=true");

        Assert.Equal(50, builder.MaxPoolSize);
        Assert.True(builder.IncludeErrorDetail);
    }

    [Theory]
    [InlineData("Host=db;Port=5433;Username=gantry;Database=fleet")]
    [InlineData("host=db; database=fleet; Root Certificate=file:///etc/ca.pem")]
    public void ToConnectionString_KeywordString_IsReturnedUnchanged(string keywords)
    {
        Assert.Equal(keywords, PostgresUrl.ToConnectionString(keywords));
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("   ", "empty")]
    [InlineData("mysql://root@db/fleet", "scheme 'mysql'")]
    [InlineData("db.example.com", "neither")]
    [InlineData("postgres://u@db:abc/fleet", "port 'abc'")]
    [InlineData("postgres://u@db:0/fleet", "port '0'")]
    [InlineData("postgres://u@db:65536/fleet", "port '65536'")]
    [InlineData("postgres://u@db:/fleet", "port ''")]
    [InlineData("postgres://u@/fleet", "names no host")]
    [InlineData("postgres://u@:5432/fleet", "names no host")]
    [InlineData("postgres://u@db1,db2/fleet", "several hosts")]
    [InlineData("postgres://u@[::1/fleet", "closing ']'")]
    [InlineData("postgres://u@[::1]x/fleet", "after its IPv6 host")]
    [InlineData("postgres://u:pa#ss@db/fleet", "'#'")]
    [InlineData("postgres://u:100%@db/fleet", "'%' in its password")]
    [InlineData("postgres://u@db/fl%zzeet", "'%' in its database name")]
    [InlineData("postgres://u@db/fleet?sslmode=on", "sslmode=on")]
    [InlineData("postgres://u@db/fleet?verbose", "parameter 'verbose'")]
    [InlineData("postgres://u@db/fleet?port=x", "port 'x'")]
    [InlineData("Host=db;Port", "not a valid keyword string")]
    public void ToConnectionString_Malformed_ThrowsNamingTheProblem(string url, string expected)
    {
        var ex = Assert.Throws<FormatException>(() => PostgresUrl.ToConnectionString(url));

        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ToConnectionString_Malformed_KeepsPasswordsOutOfTheMessage()
    {
        var ex = Assert.Throws<FormatException>(() => PostgresUrl.ToConnectionString("postgres://u:hunter2@db:x/fleet?sslpassword=swordfish&password=opensesame"));

        Assert.Contains("postgres://u:***@db:x/fleet?sslpassword=***&password=***", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("swordfish", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("opensesame", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ToConnectionString_Null_Throws()
    {
        Assert.Throws<ArgumentNullException>(() => PostgresUrl.ToConnectionString(null!));
    }

    private static NpgsqlConnectionStringBuilder Parse(string url) => new(PostgresUrl.ToConnectionString(url));
}
