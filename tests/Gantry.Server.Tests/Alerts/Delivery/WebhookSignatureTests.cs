using System.Security.Cryptography;
using System.Text;
using Gantry.Server.Alerts.Delivery;

namespace Gantry.Server.Tests.Alerts.Delivery;

/// <summary>The webhook signature: <c>t=&lt;unix&gt;,v1=&lt;hex HMAC-SHA256 of "t.body"&gt;</c>.</summary>
public sealed class WebhookSignatureTests
{
    private const string Secret = "whsec-0123456789abcdef";
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(1_796_212_800);
    private static readonly byte[] Body = Encoding.UTF8.GetBytes("{\"version\":\"4\"}");

    [Fact]
    public void Sign_Body_IsStripesScheme()
    {
        var expected = Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(Secret), Encoding.UTF8.GetBytes("1796212800.{\"version\":\"4\"}")));

        Assert.Equal($"t=1796212800,v1={expected}", WebhookSignature.Sign(Secret, Body, Now));
    }

    [Fact]
    public void Verify_OwnSignature_True()
    {
        var header = WebhookSignature.Sign(Secret, Body, Now);

        Assert.True(WebhookSignature.Verify(Secret, header, Body, Now.AddMinutes(4), TimeSpan.FromMinutes(5)));
        Assert.True(WebhookSignature.Verify(Secret, header, "{\"version\":\"4\"}", Now.AddMinutes(-4), TimeSpan.FromMinutes(5)));
    }

    [Fact]
    public void Verify_TamperedOrStaleOrOtherSecret_False()
    {
        var header = WebhookSignature.Sign(Secret, Body, Now);

        Assert.False(WebhookSignature.Verify(Secret, header, "{\"version\":\"5\"}", Now, TimeSpan.FromMinutes(5)));
        Assert.False(WebhookSignature.Verify(Secret, header, Body, Now.AddMinutes(6), TimeSpan.FromMinutes(5)));
        Assert.False(WebhookSignature.Verify("whsec-another-secret", header, Body, Now, TimeSpan.FromMinutes(5)));
        // The time is signed too: moving it breaks the signature.
        Assert.False(WebhookSignature.Verify(Secret, header.Replace("t=1796212800", "t=1796212801", StringComparison.Ordinal), Body, Now, TimeSpan.FromMinutes(5)));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("v1=00")]
    [InlineData("t=1796212800")]
    [InlineData("t=abc,v1=00")]
    [InlineData("t=1796212800,v1=not-hex")]
    [InlineData("t=99999999999999999999,v1=00")]
    public void Verify_MalformedHeader_False(string? header)
    {
        Assert.False(WebhookSignature.Verify(Secret, header, Body, Now, TimeSpan.FromMinutes(5)));
    }

    [Fact]
    public void Verify_SeveralSignatures_AnyMatchingWill()
    {
        var header = WebhookSignature.Sign(Secret, Body, Now);
        var rotated = header.Replace(",v1=", ",v1=" + new string('0', 64) + ",v1=", StringComparison.Ordinal);

        Assert.True(WebhookSignature.Verify(Secret, rotated, Body, Now, TimeSpan.FromMinutes(5)));
    }
}
