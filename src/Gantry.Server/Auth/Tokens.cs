using System.Security.Cryptography;
using System.Text;

namespace Gantry.Server.Auth;

/// <summary>Makes, hashes and compares bearer tokens. Only SHA-256 hashes are ever stored.</summary>
internal static class Tokens
{
    /// <summary>A new random token with a readable prefix ("gadm_", "gjoin_", "gnode_") and 256 random bits.</summary>
    public static string New(string prefix) =>
        prefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>SHA-256 of the token's UTF-8 bytes.</summary>
    public static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    /// <summary>Compares two hashes in constant time.</summary>
    public static bool Matches(byte[] presentedHash, byte[]? storedHash) =>
        storedHash is not null && CryptographicOperations.FixedTimeEquals(presentedHash, storedHash);

    /// <summary>Writes a token file readable by its owner only.</summary>
    public static void WriteFile(string path, string token)
    {
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var stream = new FileStream(path, options);
        stream.Write(Encoding.UTF8.GetBytes(token + "\n"));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }
}
