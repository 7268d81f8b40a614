using System.Globalization;
using System.Numerics;
using System.Text;

namespace Gantry.Server.Alerts.Rules;

/// <summary>
/// The Go-template forms Prometheus alert rules use in labels and annotations, expanded as Prometheus expands them:
/// <c>{{ $labels.name }}</c>, <c>{{ index $labels "name" }}</c>, <c>{{ $value }}</c>, <c>{{ $value | humanize }}</c>,
/// <c>{{ $value | humanizePercentage }}</c> and <c>{{ $value | printf "%.2f" }}</c> (also the call forms
/// <c>{{ humanize $value }}</c>, <c>{{ printf "%.1f" $value }}</c>, <c>.Labels.name</c> and <c>.Value</c>, and the
/// <c>{{-</c>/<c>-}}</c> trim markers). Text outside <c>{{ }}</c> is copied as it is; a label the alert lacks
/// expands to "" (as in Prometheus). Every accepted form is a valid Go template, so an exported rule file means
/// the same in Prometheus.
/// </summary>
internal static class AlertTemplate
{
    private const string Forms =
        "supported: {{ $labels.name }}, {{ index $labels \"name\" }}, {{ $value }}, {{ $value | humanize }}, {{ $value | humanizePercentage }}, {{ $value | printf \"%.2f\" }}";

    /// <summary>Throws <see cref="AlertRuleException"/> (column in <paramref name="template"/>) unless every action is a supported form.</summary>
    public static void Validate(string template)
    {
        ArgumentNullException.ThrowIfNull(template);
        _ = Compile(template);
    }

    /// <summary>
    /// <paramref name="template"/> with <c>$labels</c> read from <paramref name="labels"/> and <c>$value</c> =
    /// <paramref name="value"/>, numbers printed as Go prints them (<c>91.5</c>, <c>1e+06</c>, <c>1.235M</c>).
    /// Throws <see cref="AlertRuleException"/> for a template <see cref="Validate"/> refuses.
    /// </summary>
    public static string Expand(string template, LabelSet labels, double value)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(labels);
        var text = new StringBuilder(template.Length + 16);
        foreach (var part in Compile(template))
        {
            text.Append(part.Kind switch
            {
                PartKind.Text => part.Text,
                PartKind.Label => labels.Get(part.Text),
                PartKind.Value => GoFloat.FormatV(value),
                PartKind.Humanize => Humanize(value),
                PartKind.HumanizePercentage => GoFloat.FormatG(value * 100, 4) + "%",
                _ => Printf(part.Text, value),
            });
        }

        return text.ToString();
    }

    private enum PartKind
    {
        Text,
        Label,
        Value,
        Humanize,
        HumanizePercentage,
        Printf,
    }

    /// <summary>Literal text, a label's name, or a printf format, by <see cref="Kind"/>.</summary>
    private readonly record struct Part(PartKind Kind, string Text);

    private enum TokenKind
    {
        Word,
        String,
        Pipe,
    }

    private readonly record struct Token(TokenKind Kind, string Text, int Start);

    private static List<Part> Compile(string template)
    {
        var parts = new List<Part>();
        var i = 0;
        var trimNext = false;
        while (i <= template.Length)
        {
            var open = template.IndexOf("{{", i, StringComparison.Ordinal);
            var text = template[i..(open < 0 ? template.Length : open)];
            if (trimNext)
            {
                text = text.TrimStart(' ', '\t', '\r', '\n');
            }

            if (open < 0)
            {
                AddText(parts, text);
                break;
            }

            // "{{- " trims the white space before the action, " -}}" the white space after it (Go's trim markers).
            var start = open + 2;
            if (start + 1 < template.Length && template[start] == '-' && IsSpace(template[start + 1]))
            {
                text = text.TrimEnd(' ', '\t', '\r', '\n');
                start++;
            }

            AddText(parts, text);
            var (tokens, end, trimAfter) = Tokenize(template, open, start);
            parts.Add(CompileAction(template, open, end, tokens));
            i = end;
            trimNext = trimAfter;
        }

        return parts;
    }

    private static void AddText(List<Part> parts, string text)
    {
        if (text.Length > 0)
        {
            parts.Add(new Part(PartKind.Text, text));
        }
    }

    private static bool IsSpace(char c) => c is ' ' or '\t' or '\r' or '\n';

    private static (List<Token> Tokens, int End, bool TrimAfter) Tokenize(string template, int open, int start)
    {
        var tokens = new List<Token>();
        var j = start;
        while (true)
        {
            while (j < template.Length && IsSpace(template[j]))
            {
                j++;
            }

            if (j >= template.Length)
            {
                throw Error(open, "unclosed action: \"{{\" without \"}}\"");
            }

            if (string.CompareOrdinal(template, j, "}}", 0, 2) == 0)
            {
                return (tokens, j + 2, false);
            }

            if (j > start && IsSpace(template[j - 1]) && string.CompareOrdinal(template, j, "-}}", 0, 3) == 0)
            {
                return (tokens, j + 3, true);
            }

            var c = template[j];
            if (c == '|')
            {
                tokens.Add(new Token(TokenKind.Pipe, "|", j));
                j++;
            }
            else if (c is '"' or '`')
            {
                var (value, end) = ReadString(template, j);
                tokens.Add(new Token(TokenKind.String, value, j));
                j = end;
            }
            else if (c is '$' or '.' or '_' || char.IsAsciiLetter(c))
            {
                var end = j + 1;
                while (end < template.Length && (char.IsAsciiLetterOrDigit(template[end]) || template[end] is '_' or '.' or '$'))
                {
                    end++;
                }

                tokens.Add(new Token(TokenKind.Word, template[j..end], j));
                j = end;
            }
            else
            {
                throw Error(j, $"unexpected \"{c}\" in template action; " + Forms);
            }
        }
    }

    // Go's string literals: "…" with \" \\ \n \t \r escapes, or `…` raw.
    private static (string Value, int End) ReadString(string template, int start)
    {
        var quote = template[start];
        var value = new StringBuilder();
        for (var i = start + 1; i < template.Length; i++)
        {
            var c = template[i];
            if (c == quote)
            {
                return (value.ToString(), i + 1);
            }

            if (quote == '"' && c == '\n')
            {
                break;
            }

            if (quote == '"' && c == '\\')
            {
                var e = i + 1 < template.Length ? template[i + 1] : '\0';
                value.Append(e switch
                {
                    '"' => '"',
                    '\\' => '\\',
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    _ => throw Error(i, $"unsupported escape \"\\{e}\" in template string"),
                });
                i++;
                continue;
            }

            value.Append(c);
        }

        throw Error(start, "unterminated string in template action");
    }

    private static Part CompileAction(string template, int open, int end, List<Token> tokens)
    {
        var action = template[open..end];
        var commands = new List<List<Token>> { new() };
        foreach (var token in tokens)
        {
            if (token.Kind == TokenKind.Pipe)
            {
                if (commands[^1].Count == 0)
                {
                    throw Error(token.Start, $"\"|\" needs a value before it in \"{action}\"; " + Forms);
                }

                commands.Add([]);
            }
            else
            {
                commands[^1].Add(token);
            }
        }

        if (commands[^1].Count == 0)
        {
            throw Error(tokens.Count == 0 ? open : tokens[^1].Start, $"empty template action \"{action}\"; " + Forms);
        }

        var part = First(action, commands[0]);
        for (var c = 1; c < commands.Count; c++)
        {
            var command = commands[c];
            if (part.Kind != PartKind.Value)
            {
                throw Error(command[0].Start, part.Kind == PartKind.Label
                    ? $"a label's value cannot be piped into a function in \"{action}\"; " + Forms
                    : $"only one function per action is supported in \"{action}\"; " + Forms);
            }

            part = Function(action, command, piped: true);
        }

        return part;
    }

    private static Part First(string action, List<Token> command)
    {
        var head = command[0];
        if (head.Kind != TokenKind.Word)
        {
            throw Error(head.Start, $"unsupported template action \"{action}\"; " + Forms);
        }

        if (head.Text is "index")
        {
            if (command.Count != 3 || !IsLabelsMap(command[1]) || command[2].Kind != TokenKind.String)
            {
                throw Error(head.Start, $"unsupported use of index in \"{action}\"; write {{{{ index $labels \"name\" }}}}");
            }

            return new Part(PartKind.Label, command[2].Text);
        }

        if (head.Text is "humanize" or "humanizePercentage" or "printf")
        {
            return Function(action, command, piped: false);
        }

        Part? part = IsValue(head) ? new Part(PartKind.Value, "") : null;
        foreach (var prefix in (ReadOnlySpan<string>)["$labels.", ".Labels."])
        {
            if (head.Text.StartsWith(prefix, StringComparison.Ordinal))
            {
                var name = head.Text[prefix.Length..];
                if (!PromQlParser.IsLabelName(name))
                {
                    throw Error(head.Start + prefix.Length, $"\"{name}\" is not a label name in \"{action}\"");
                }

                part = new Part(PartKind.Label, name);
            }
        }

        if (part is null)
        {
            throw Error(head.Start, $"unsupported template action \"{action}\"; " + Forms);
        }

        return command.Count == 1 ? part.Value : throw Error(command[1].Start, $"unexpected \"{command[1].Text}\" in \"{action}\"; " + Forms);
    }

    // humanize $value | humanizePercentage $value | printf "fmt" $value, or piped: the value comes last.
    private static Part Function(string action, List<Token> command, bool piped)
    {
        var head = command[0];
        var arguments = command.Count - 1 + (piped ? 1 : 0);
        var kind = head.Text switch
        {
            "humanize" => PartKind.Humanize,
            "humanizePercentage" => PartKind.HumanizePercentage,
            "printf" => PartKind.Printf,
            _ => throw Error(head.Start, $"unsupported function \"{head.Text}\" in \"{action}\"; " + Forms),
        };
        if (arguments != (kind == PartKind.Printf ? 2 : 1) || (!piped && !IsValue(command[^1])))
        {
            throw Error(head.Start, kind == PartKind.Printf
                ? $"printf takes a format and $value in \"{action}\" (e.g. {{{{ $value | printf \"%.2f\" }}}})"
                : $"{head.Text} takes $value in \"{action}\" (e.g. {{{{ $value | {head.Text} }}}})");
        }

        if (kind != PartKind.Printf)
        {
            return new Part(kind, "");
        }

        var format = command[1];
        if (format.Kind != TokenKind.String)
        {
            throw Error(format.Start, $"printf needs a quoted format in \"{action}\" (e.g. \"%.2f\")");
        }

        if (PrintfProblem(format.Text) is { } problem)
        {
            throw Error(format.Start, $"printf format \"{format.Text}\": {problem}");
        }

        return new Part(PartKind.Printf, format.Text);
    }

    private static bool IsValue(Token token) => token.Kind == TokenKind.Word && token.Text is "$value" or ".Value";

    private static bool IsLabelsMap(Token token) => token.Kind == TokenKind.Word && token.Text is "$labels" or ".Labels";

    private static AlertRuleException Error(int index, string problem) => new(problem, null, index + 1);

    // One float verb: %f %e %g with an optional precision (%.2f), or %v; "%%" is a literal percent sign.
    private static string? PrintfProblem(string format)
    {
        var verbs = 0;
        for (var i = 0; i < format.Length; i++)
        {
            if (format[i] != '%')
            {
                continue;
            }

            if (i + 1 < format.Length && format[i + 1] == '%')
            {
                i++;
                continue;
            }

            if (!TryVerb(format, i, out _, out _, out var end))
            {
                return "supported verbs are %f, %e, %g with an optional precision (%.2f) and %v";
            }

            verbs++;
            i = end - 1;
        }

        return verbs == 1 ? null : "the format needs exactly one verb for $value (e.g. \"%.2f\")";
    }

    private static bool TryVerb(string format, int percent, out char verb, out int precision, out int end)
    {
        verb = '\0';
        precision = -1;
        end = percent + 1;
        if (end < format.Length && format[end] == '.')
        {
            end++;
            var digits = end;
            while (end < format.Length && char.IsAsciiDigit(format[end]) && end - digits < 3)
            {
                end++;
            }

            precision = end == digits ? 0 : int.Parse(format.AsSpan(digits, end - digits), CultureInfo.InvariantCulture);
        }

        if (end >= format.Length || format[end] is not ('f' or 'e' or 'g' or 'v') || (format[end] == 'v' && precision >= 0))
        {
            return false;
        }

        verb = format[end];
        end++;
        return true;
    }

    private static string Printf(string format, double value)
    {
        var text = new StringBuilder();
        for (var i = 0; i < format.Length; i++)
        {
            if (format[i] != '%')
            {
                text.Append(format[i]);
            }
            else if (i + 1 < format.Length && format[i + 1] == '%')
            {
                text.Append('%');
                i++;
            }
            else if (TryVerb(format, i, out var verb, out var precision, out var end))
            {
                text.Append(verb switch
                {
                    'f' => GoFloat.FormatF(value, precision < 0 ? 6 : precision),
                    'e' => GoFloat.FormatE(value, precision < 0 ? 6 : precision),
                    'g' => precision < 0 ? GoFloat.FormatV(value) : GoFloat.FormatG(value, precision),
                    _ => GoFloat.FormatV(value),
                });
                i = end - 1;
            }
        }

        return text.ToString();
    }

    // Prometheus' humanize: SI prefixes k M G T P E Z Y upwards and m u n p f a z y downwards, %.4g.
    private static string Humanize(double value)
    {
        if (value == 0 || double.IsNaN(value) || double.IsInfinity(value))
        {
            return GoFloat.FormatG(value, 4);
        }

        var prefix = "";
        if (Math.Abs(value) >= 1)
        {
            foreach (var p in (ReadOnlySpan<string>)["k", "M", "G", "T", "P", "E", "Z", "Y"])
            {
                if (Math.Abs(value) < 1000)
                {
                    break;
                }

                prefix = p;
                value /= 1000;
            }
        }
        else
        {
            foreach (var p in (ReadOnlySpan<string>)["m", "u", "n", "p", "f", "a", "z", "y"])
            {
                if (Math.Abs(value) >= 1)
                {
                    break;
                }

                prefix = p;
                value *= 1000;
            }
        }

        return GoFloat.FormatG(value, 4) + prefix;
    }

    /// <summary>
    /// Go's fmt for a float64 (<c>strconv.FormatFloat</c> under it): <c>%v</c> (shortest digits, exponent form below
    /// 1e-4 and from 1e+06 on), <c>%.Nf</c>, <c>%.Ne</c> and <c>%.Ng</c>, rounding the exact binary value half to even.
    /// </summary>
    internal static class GoFloat
    {
        /// <summary>Go's <c>%v</c>.</summary>
        public static string FormatV(double value)
        {
            if (Special(value) is { } special)
            {
                return special;
            }

            var (digits, point) = Shortest(Math.Abs(value));
            var exponent = point - 1;
            var body = exponent < -4 || exponent >= 6
                ? Exponential(digits, point, digits.Length - 1)
                : Fixed(digits, point, Math.Max(digits.Length - point, 0));
            return Sign(value) + body;
        }

        /// <summary>Go's <c>%.{precision}f</c>.</summary>
        public static string FormatF(double value, int precision)
        {
            if (Special(value) is { } special)
            {
                return special;
            }

            var (digits, point) = Exact(Math.Abs(value));
            (digits, point) = Round(digits, point, point + precision);
            return Sign(value) + Fixed(digits, point, precision);
        }

        /// <summary>Go's <c>%.{precision}e</c>.</summary>
        public static string FormatE(double value, int precision)
        {
            if (Special(value) is { } special)
            {
                return special;
            }

            var (digits, point) = Exact(Math.Abs(value));
            (digits, point) = Round(digits, point, precision + 1);
            return Sign(value) + Exponential(digits, point, precision);
        }

        /// <summary>Go's <c>%.{precision}g</c>.</summary>
        public static string FormatG(double value, int precision)
        {
            if (Special(value) is { } special)
            {
                return special;
            }

            if (precision == 0)
            {
                precision = 1;
            }

            var (digits, point) = Exact(Math.Abs(value));
            (digits, point) = Round(digits, point, precision);

            // strconv's %g: exponent form when the exponent is < -4 or >= the precision (trailing zeros dropped).
            var exponentLimit = precision;
            if (exponentLimit > digits.Length && digits.Length >= point)
            {
                exponentLimit = digits.Length;
            }

            var exponent = point - 1;
            string body;
            if (exponent < -4 || exponent >= exponentLimit)
            {
                body = Exponential(digits, point, Math.Min(precision, digits.Length) - 1);
            }
            else
            {
                var shown = precision > point ? digits.Length : precision;
                body = Fixed(digits, point, Math.Max(shown - point, 0));
            }

            return Sign(value) + body;
        }

        private static string? Special(double value) =>
            double.IsNaN(value) ? "NaN" : double.IsPositiveInfinity(value) ? "+Inf" : double.IsNegativeInfinity(value) ? "-Inf" : null;

        private static string Sign(double value) => double.IsNegative(value) ? "-" : "";

        /// <summary>The shortest digits that read back as <paramref name="value"/> (.NET's "R" picks the same as Go's shortest), as 0.DIGITS × 10^point.</summary>
        private static (string Digits, int Point) Shortest(double value)
        {
            if (value == 0)
            {
                return ("", 0);
            }

            var text = value.ToString("R", CultureInfo.InvariantCulture);
            var e = text.IndexOf('E', StringComparison.Ordinal);
            var exponent = e < 0 ? 0 : int.Parse(text.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            var mantissa = e < 0 ? text : text[..e];
            var dot = mantissa.IndexOf('.', StringComparison.Ordinal);
            var point = (dot < 0 ? mantissa.Length : dot) + exponent;
            return Trim(mantissa.Replace(".", "", StringComparison.Ordinal), point);
        }

        /// <summary>Every decimal digit of <paramref name="value"/> (a binary fraction always ends), as 0.DIGITS × 10^point.</summary>
        private static (string Digits, int Point) Exact(double value)
        {
            if (value == 0)
            {
                return ("", 0);
            }

            var bits = BitConverter.DoubleToInt64Bits(value);
            var exponent = (int)((bits >> 52) & 0x7FF);
            var mantissa = bits & 0xF_FFFF_FFFF_FFFF;
            if (exponent == 0)
            {
                exponent = 1;
            }
            else
            {
                mantissa |= 1L << 52;
            }

            exponent -= 1075;

            // value = mantissa × 2^exponent = mantissa × 5^-exponent / 10^-exponent when the exponent is negative.
            var scaled = exponent >= 0 ? new BigInteger(mantissa) << exponent : new BigInteger(mantissa) * BigInteger.Pow(5, -exponent);
            var digits = scaled.ToString(CultureInfo.InvariantCulture);
            return Trim(digits, digits.Length - Math.Max(-exponent, 0));
        }

        private static (string Digits, int Point) Trim(string digits, int point)
        {
            var leading = 0;
            while (leading < digits.Length && digits[leading] == '0')
            {
                leading++;
            }

            digits = digits[leading..].TrimEnd('0');
            return digits.Length == 0 ? ("", 0) : (digits, point - leading);
        }

        /// <summary>Go's decimal.Round: to <paramref name="count"/> digits, a tie (exactly 5 then nothing) to even.</summary>
        private static (string Digits, int Point) Round(string digits, int point, int count)
        {
            if (count < 0 || count >= digits.Length)
            {
                return (digits, point);
            }

            var up = digits[count] == '5' && count + 1 == digits.Length
                ? count > 0 && (digits[count - 1] - '0') % 2 == 1
                : digits[count] >= '5';
            if (!up)
            {
                return Trim(digits[..count], point);
            }

            for (var i = count - 1; i >= 0; i--)
            {
                if (digits[i] < '9')
                {
                    return (digits[..i] + (char)(digits[i] + 1), point);
                }
            }

            return ("1", point + 1);
        }

        // d.ddde±XX with `decimals` digits after the point.
        private static string Exponential(string digits, int point, int decimals)
        {
            var text = new StringBuilder();
            text.Append(digits.Length == 0 ? '0' : digits[0]);
            if (decimals > 0)
            {
                text.Append('.');
                for (var i = 1; i <= decimals; i++)
                {
                    text.Append(i < digits.Length ? digits[i] : '0');
                }
            }

            var exponent = digits.Length == 0 ? 0 : point - 1;
            text.Append('e').Append(exponent < 0 ? '-' : '+');
            var magnitude = Math.Abs(exponent);
            if (magnitude < 10)
            {
                text.Append('0');
            }

            return text.Append(magnitude.ToString(CultureInfo.InvariantCulture)).ToString();
        }

        // ddd.ddd with `decimals` digits after the point.
        private static string Fixed(string digits, int point, int decimals)
        {
            var text = new StringBuilder();
            if (point > 0)
            {
                for (var i = 0; i < point; i++)
                {
                    text.Append(i < digits.Length ? digits[i] : '0');
                }
            }
            else
            {
                text.Append('0');
            }

            if (decimals > 0)
            {
                text.Append('.');
                for (var i = 0; i < decimals; i++)
                {
                    var j = point + i;
                    text.Append(j >= 0 && j < digits.Length ? digits[j] : '0');
                }
            }

            return text.ToString();
        }
    }
}
