using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Gantry.Server.Alerts.Rules;

/// <summary>
/// Parses the PromQL subset an alert rule's <c>expr</c> may use into an <see cref="AlertExpr"/>:
/// <list type="bullet">
/// <item>selectors with a metric name and optional matchers: <c>m{a="x", b!="y", c=~"re", d!~"re"}</c>;</item>
/// <item><c>min|max|avg|sum</c> with or without <c>by (labels)</c> (before or after the argument) over a selector or another aggregation;</item>
/// <item><c>absent(selector)</c>;</item>
/// <item>comparisons with a number on either side (<c>x &gt; 85</c>, <c>85 &lt; x</c>; chained ones filter in turn);</item>
/// <item>parentheses and <c>#</c> comments.</item>
/// </list>
/// Anything else PromQL has (range selectors, offset, @, subqueries, other functions, arithmetic, set operators,
/// <c>bool</c>, vector matching, <c>without</c>) is refused with an <see cref="AlertRuleException"/> whose
/// <see cref="AlertRuleException.Column"/> is the 1-based position of the first offending character.
/// </summary>
internal static class PromQlParser
{
    /// <summary>Parses <paramref name="text"/>; throws <see cref="AlertRuleException"/> (column only) for anything outside the subset.</summary>
    public static AlertExpr Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return new Parser(text).ParseAll();
    }

    private enum TokenKind
    {
        End,
        Bad,
        Identifier,
        Number,
        String,
        Duration,
        LeftParen,
        RightParen,
        LeftBrace,
        RightBrace,
        LeftBracket,
        RightBracket,
        Comma,
        Colon,
        At,
        Assign,
        RegexMatch,
        RegexNoMatch,
        EqualEqual,
        NotEqual,
        Greater,
        GreaterOrEqual,
        Less,
        LessOrEqual,
        Plus,
        Minus,
        Star,
        Slash,
        Percent,
        Caret,
    }

    /// <summary>A token: where it starts (0-based), its source text, and its value (number, decoded string) or problem (bad token).</summary>
    private readonly record struct Token(TokenKind Kind, int Start, string Text, double Number = 0, string? Value = null);

    /// <summary>A parsed operand: a vector expression or a number, where it starts, and where its outermost comparison operator is (-1 when none).</summary>
    private readonly record struct Operand(AlertExpr? Expr, double Number, int Start, int CompareAt = -1)
    {
        public bool IsNumber => Expr is null;
    }

    private static readonly string[] Aggregations = ["sum", "min", "max", "avg", "count", "group", "stddev", "stdvar", "topk", "bottomk", "count_values", "quantile", "limitk", "limit_ratio"];

    private static readonly string[] Keywords = ["and", "or", "unless", "atan2", "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool"];

    private sealed class Parser(string text)
    {
        private const string Supported = "a selector such as gpu_temp{node=\"a\"}, min/max/avg/sum (...), absent(...) or a number";

        private readonly List<Token> _lookahead = [];
        private int _position; // where the lexer goes on

        public AlertExpr ParseAll()
        {
            if (Peek().Kind == TokenKind.End)
            {
                throw Error(0, "empty expression; expected " + Supported + ", usually compared with a number (e.g. gpu_temp > 85)");
            }

            var result = ParseExpression();
            var next = Peek();
            if (next.Kind != TokenKind.End)
            {
                throw next.Kind switch
                {
                    TokenKind.RightParen => Error(next.Start, "unexpected \")\": no \"(\" is open"),
                    TokenKind.Bad => Error(next.Start, next.Value!),
                    _ => Error(next.Start, $"unexpected {Describe(next)}; expected a comparison (>, >=, <, <=, ==, !=) with a number or the end of the expression"),
                };
            }

            if (result.IsNumber)
            {
                throw Error(result.Start, "the expression is only a number; an alert needs " + Supported.Replace(" or a number", "", StringComparison.Ordinal) + " (e.g. gpu_temp > 85)");
            }

            return result.Expr!;
        }

        // expression := operand { compare-op operand }   (comparisons are left-associative, as in PromQL)
        private Operand ParseExpression()
        {
            var left = ParseOperand();
            while (true)
            {
                var token = Peek();
                if (ComparisonOf(token.Kind) is { } op)
                {
                    Advance();
                    var after = Peek();
                    if (IsWord(after, "bool"))
                    {
                        throw Error(after.Start, "the bool modifier is not supported; a comparison here keeps the samples for which it holds");
                    }

                    if (IsWord(after, "on") || IsWord(after, "ignoring") || IsWord(after, "group_left") || IsWord(after, "group_right"))
                    {
                        throw Error(after.Start, $"vector matching (\"{after.Text}\") is not supported; compare with a number (e.g. gpu_temp > 85)");
                    }

                    var right = ParseOperand();
                    left = Combine(left, op, token, right);
                    continue;
                }

                switch (token.Kind)
                {
                    case TokenKind.Plus or TokenKind.Minus or TokenKind.Star or TokenKind.Slash or TokenKind.Percent or TokenKind.Caret:
                        throw Error(token.Start, $"arithmetic (\"{token.Text}\") is not supported; expected a comparison (>, >=, <, <=, ==, !=) with a number");
                    case TokenKind.Identifier when IsWord(token, "atan2"):
                        throw Error(token.Start, "arithmetic (\"atan2\") is not supported; expected a comparison (>, >=, <, <=, ==, !=) with a number");
                    case TokenKind.Identifier when IsWord(token, "and") || IsWord(token, "or") || IsWord(token, "unless"):
                        throw Error(token.Start, $"set operators (\"{token.Text}\") are not supported; write a separate rule for each condition");
                    default:
                        return left;
                }
            }
        }

        private static Operand Combine(Operand left, CompareOp op, Token opToken, Operand right)
        {
            if (left.IsNumber && right.IsNumber)
            {
                throw Error(opToken.Start, "comparing two numbers is not supported; one side must be a selector, an aggregation or absent(...)");
            }

            if (!left.IsNumber && !right.IsNumber)
            {
                throw Error(right.Start, "comparing two vectors is not supported; compare with a number (e.g. gpu_temp > 85)");
            }

            // "5 < x" keeps the samples of x above 5, with x's values (PromQL keeps the vector's side): it is "x > 5".
            return left.IsNumber
                ? new Operand(new CompareExpr(right.Expr!, Flip(op), left.Number), 0, left.Start, opToken.Start)
                : new Operand(new CompareExpr(left.Expr!, op, right.Number), 0, left.Start, opToken.Start);
        }

        private Operand ParseOperand()
        {
            var token = Peek();
            Operand operand;
            switch (token.Kind)
            {
                case TokenKind.Plus or TokenKind.Minus:
                    {
                        Advance();
                        var next = Peek();
                        if (next.Kind == TokenKind.Number || (next.Kind == TokenKind.Identifier && IsSpecialNumber(next.Text, out _)))
                        {
                            var value = NumberOf(Advance());
                            operand = new Operand(null, token.Kind == TokenKind.Minus ? -value : value, token.Start);
                            break;
                        }

                        throw Error(token.Start, $"unary \"{token.Text}\" is only supported before a number; arithmetic is not supported");
                    }

                case TokenKind.Number:
                    Advance();
                    operand = new Operand(null, token.Number, token.Start);
                    break;
                case TokenKind.Identifier:
                    operand = ParseIdentifier(token);
                    break;
                case TokenKind.LeftParen:
                    {
                        Advance();
                        var inner = ParseExpression();
                        Expect(TokenKind.RightParen, "\")\" to close the \"(\" at character " + (token.Start + 1).ToString(CultureInfo.InvariantCulture) + " of the expression");
                        operand = inner with { Start = token.Start };
                        break;
                    }

                case TokenKind.LeftBrace:
                    throw Error(token.Start, "a selector needs a metric name before \"{\" (e.g. gpu_temp{node=\"a\"})");
                case TokenKind.String:
                    throw Error(token.Start, "a string is not supported here; expected " + Supported);
                case TokenKind.Duration:
                    throw Error(token.Start, $"duration literals (\"{token.Text}\") are not supported; Gantry evaluates instant vectors only");
                case TokenKind.Bad:
                    throw Error(token.Start, token.Value!);
                case TokenKind.End:
                    throw Error(token.Start, "unexpected end of expression; expected " + Supported);
                default:
                    throw Error(token.Start, $"unexpected {Describe(token)}; expected " + Supported);
            }

            CheckNoModifier();
            return operand;
        }

        // After an operand PromQL may have a range, a subquery, offset or @: none of which the subset has.
        private void CheckNoModifier()
        {
            var token = Peek();
            if (token.Kind == TokenKind.LeftBracket)
            {
                var close = text.IndexOf(']', token.Start);
                var shown = close < 0 || close - token.Start > 40 ? "[" : text[token.Start..(close + 1)];
                throw shown.Contains(':', StringComparison.Ordinal)
                    ? Error(token.Start, $"subqueries (\"{shown}\") are not supported; Gantry evaluates instant vectors only")
                    : Error(token.Start, $"range selectors (\"{shown}\") are not supported; Gantry evaluates instant vectors only");
            }

            if (IsWord(token, "offset"))
            {
                throw Error(token.Start, "offset modifiers are not supported; Gantry evaluates the latest samples only");
            }

            if (token.Kind == TokenKind.At)
            {
                throw Error(token.Start, "@ modifiers are not supported; Gantry evaluates the latest samples only");
            }
        }

        private Operand ParseIdentifier(Token token)
        {
            if (IsSpecialNumber(token.Text, out var special))
            {
                Advance();
                return new Operand(null, special, token.Start);
            }

            var lower = token.Text.ToLowerInvariant();
            if (Array.IndexOf(Aggregations, lower) >= 0)
            {
                return ParseAggregation(token, lower);
            }

            if (Array.IndexOf(Keywords, lower) >= 0)
            {
                throw lower is "by" or "without"
                    ? Error(token.Start, $"\"{token.Text}\" must follow an aggregation (e.g. max by (node) (gpu_temp))")
                    : Error(token.Start, $"unexpected \"{token.Text}\"; expected " + Supported);
            }

            if (PeekAt(1).Kind == TokenKind.LeftParen)
            {
                if (token.Text == "absent")
                {
                    return ParseAbsent(token);
                }

                throw Error(token.Start, $"function \"{token.Text}\" is not supported; the only function is absent(...)");
            }

            return ParseSelector(token);
        }

        // aggregation := op [grouping] "(" expression ")" [grouping]
        private Operand ParseAggregation(Token name, string lower)
        {
            var op = lower switch
            {
                "min" => AggregateOp.Min,
                "max" => AggregateOp.Max,
                "avg" => AggregateOp.Avg,
                "sum" => AggregateOp.Sum,
                _ => throw Error(name.Start, $"aggregation \"{name.Text}\" is not supported; the supported ones are min, max, avg and sum"),
            };
            Advance();
            List<string>? by = null;
            if (IsGrouping(Peek()))
            {
                by = ParseGrouping();
            }

            Expect(TokenKind.LeftParen, $"\"(\" after \"{name.Text}\"");
            var inner = ParseExpression();
            if (inner.IsNumber)
            {
                throw Error(inner.Start, $"\"{name.Text}\" takes a selector or another aggregation, not a number");
            }

            if (inner.Expr is CompareExpr)
            {
                throw Error(inner.CompareAt, $"a comparison inside an aggregation is not supported; compare the aggregation's result instead (e.g. {lower}(gpu_temp) > 85)");
            }

            if (inner.Expr is AbsentExpr)
            {
                throw Error(inner.Start, $"absent(...) inside an aggregation is not supported; \"{name.Text}\" takes a selector or another aggregation");
            }

            if (Peek().Kind == TokenKind.Comma)
            {
                throw Error(Peek().Start, $"\"{name.Text}\" takes one argument");
            }

            Expect(TokenKind.RightParen, $"\")\" to close \"{name.Text}(\"");
            var after = Peek();
            if (IsGrouping(after))
            {
                if (by is not null)
                {
                    throw Error(after.Start, $"\"{after.Text}\" is given twice for \"{name.Text}\"");
                }

                by = ParseGrouping();
            }

            return new Operand(new AggregateExpr(op, by ?? [], inner.Expr!), 0, name.Start);
        }

        private static bool IsGrouping(Token token) => IsWord(token, "by") || IsWord(token, "without");

        // grouping := "by" "(" [label { "," label } [","]] ")"
        private List<string> ParseGrouping()
        {
            var keyword = Advance();
            if (IsWord(keyword, "without"))
            {
                throw Error(keyword.Start, "\"without\" is not supported; list the labels to keep with by (...)");
            }

            Expect(TokenKind.LeftParen, "\"(\" after \"by\"");
            var labels = new List<string>();
            while (true)
            {
                var token = Advance();
                if (token.Kind == TokenKind.RightParen)
                {
                    return labels;
                }

                if (token.Kind != TokenKind.Identifier)
                {
                    throw Unexpected(token, "a label name or \")\"");
                }

                labels.Add(LabelName(token));
                var separator = Advance();
                if (separator.Kind == TokenKind.RightParen)
                {
                    return labels;
                }

                if (separator.Kind != TokenKind.Comma)
                {
                    throw Unexpected(separator, "\",\" or \")\"");
                }
            }
        }

        private Operand ParseAbsent(Token name)
        {
            Advance();
            Expect(TokenKind.LeftParen, "\"(\" after \"absent\"");
            var inner = ParseExpression();
            if (inner.Expr is not SelectorExpr selector)
            {
                throw Error(inner.Start, "absent(...) takes a selector here (e.g. absent(gpu_temp{node=\"a\"}))");
            }

            if (Peek().Kind == TokenKind.Comma)
            {
                throw Error(Peek().Start, "absent(...) takes one argument");
            }

            Expect(TokenKind.RightParen, "\")\" to close \"absent(\"");
            return new Operand(new AbsentExpr(selector), 0, name.Start);
        }

        // selector := metric [ "{" [matcher { "," matcher } [","]] "}" ]
        private Operand ParseSelector(Token name)
        {
            Advance();
            var matchers = new List<LabelMatcher>();
            if (Peek().Kind == TokenKind.LeftBrace)
            {
                Advance();
                while (true)
                {
                    var token = Advance();
                    if (token.Kind == TokenKind.RightBrace)
                    {
                        break;
                    }

                    if (token.Kind != TokenKind.Identifier)
                    {
                        throw Unexpected(token, "a label name or \"}\"");
                    }

                    var label = LabelName(token);
                    if (label == LabelSet.MetricName)
                    {
                        throw Error(token.Start, $"the metric name is \"{name.Text}\" already; a selector cannot also match {LabelSet.MetricName}");
                    }

                    var opToken = Advance();
                    var op = opToken.Kind switch
                    {
                        TokenKind.Assign => MatchOp.Equal,
                        TokenKind.NotEqual => MatchOp.NotEqual,
                        TokenKind.RegexMatch => MatchOp.Regex,
                        TokenKind.RegexNoMatch => MatchOp.NotRegex,
                        _ => throw Unexpected(opToken, $"=, !=, =~ or !~ after \"{label}\""),
                    };
                    var value = Advance();
                    if (value.Kind != TokenKind.String)
                    {
                        throw Unexpected(value, "a quoted string");
                    }

                    matchers.Add(Matcher(label, op, value));
                    var separator = Advance();
                    if (separator.Kind == TokenKind.RightBrace)
                    {
                        break;
                    }

                    if (separator.Kind != TokenKind.Comma)
                    {
                        throw Unexpected(separator, "\",\" or \"}\"");
                    }
                }
            }

            // PromQL also refuses a selector whose matchers all match the empty string, unless it has a
            // metric name; this subset always has one, so every selector passes that rule.
            return new Operand(new SelectorExpr(name.Text, matchers), 0, name.Start);
        }

        private static LabelMatcher Matcher(string label, MatchOp op, Token value)
        {
            if (op is MatchOp.Regex or MatchOp.NotRegex && Re2Problem(value.Value!) is { } problem)
            {
                throw Error(value.Start, $"regular expression {value.Text}: {problem}");
            }

            try
            {
                return new LabelMatcher(label, op, value.Value!);
            }
            catch (RegexParseException e)
            {
                throw Error(value.Start, $"invalid regular expression {value.Text}: {Words(e.Error.ToString())}");
            }
            catch (Exception e) when (e is ArgumentException or NotSupportedException)
            {
                throw Error(value.Start, $"invalid regular expression {value.Text}: {e.Message}");
            }
        }

        private static string LabelName(Token token)
        {
            if (!IsLabelName(token.Text))
            {
                throw Error(token.Start, $"invalid label name \"{token.Text}\"; label names match [a-zA-Z_][a-zA-Z0-9_]*");
            }

            return token.Text;
        }

        private void Expect(TokenKind kind, string expected)
        {
            var token = Advance();
            if (token.Kind != kind)
            {
                throw Unexpected(token, expected);
            }
        }

        private static AlertRuleException Unexpected(Token token, string expected) => token.Kind switch
        {
            TokenKind.Bad => Error(token.Start, token.Value!),
            TokenKind.LeftBracket => Error(token.Start, $"unexpected \"[\"; range selectors and subqueries are not supported; expected {expected}"),
            _ => Error(token.Start, $"unexpected {Describe(token)}; expected {expected}"),
        };

        private static AlertRuleException Error(int index, string problem) => new(problem, null, index + 1);

        private static bool IsWord(Token token, string word) =>
            token.Kind == TokenKind.Identifier && string.Equals(token.Text, word, StringComparison.OrdinalIgnoreCase);

        private static string Describe(Token token) => token.Kind switch
        {
            TokenKind.End => "end of expression",
            _ => "\"" + (token.Text.Length > 24 ? token.Text[..24] + "…" : token.Text) + "\"",
        };

        private static double NumberOf(Token token) =>
            token.Kind == TokenKind.Number ? token.Number : IsSpecialNumber(token.Text, out var value) ? value : 0;

        private Token Peek() => PeekAt(0);

        private Token PeekAt(int ahead)
        {
            while (_lookahead.Count <= ahead)
            {
                _lookahead.Add(Lex());
            }

            return _lookahead[ahead];
        }

        private Token Advance()
        {
            var token = Peek();
            _lookahead.RemoveAt(0);
            return token;
        }

        private Token Lex()
        {
            SkipSpaceAndComments();
            var start = _position;
            if (start >= text.Length)
            {
                return new Token(TokenKind.End, text.Length, "");
            }

            var c = text[start];
            if (char.IsAsciiLetter(c) || c is '_' or ':')
            {
                // ':' may start a recording-rule style metric name (PromQL's METRIC_IDENTIFIER).
                var end = start + 1;
                while (end < text.Length && (char.IsAsciiLetterOrDigit(text[end]) || text[end] is '_' or ':'))
                {
                    end++;
                }

                if (c == ':' && end == start + 1)
                {
                    _position = end;
                    return new Token(TokenKind.Colon, start, ":");
                }

                return Take(TokenKind.Identifier, start, end);
            }

            if (char.IsAsciiDigit(c) || (c == '.' && start + 1 < text.Length && char.IsAsciiDigit(text[start + 1])))
            {
                return LexNumber(start);
            }

            if (c is '"' or '\'' or '`')
            {
                return LexString(start);
            }

            var next = start + 1 < text.Length ? text[start + 1] : '\0';
            return c switch
            {
                '(' => Take(TokenKind.LeftParen, start, start + 1),
                ')' => Take(TokenKind.RightParen, start, start + 1),
                '{' => Take(TokenKind.LeftBrace, start, start + 1),
                '}' => Take(TokenKind.RightBrace, start, start + 1),
                '[' => Take(TokenKind.LeftBracket, start, start + 1),
                ']' => Take(TokenKind.RightBracket, start, start + 1),
                ',' => Take(TokenKind.Comma, start, start + 1),
                '@' => Take(TokenKind.At, start, start + 1),
                '+' => Take(TokenKind.Plus, start, start + 1),
                '-' => Take(TokenKind.Minus, start, start + 1),
                '*' => Take(TokenKind.Star, start, start + 1),
                '/' => Take(TokenKind.Slash, start, start + 1),
                '%' => Take(TokenKind.Percent, start, start + 1),
                '^' => Take(TokenKind.Caret, start, start + 1),
                '=' when next == '=' => Take(TokenKind.EqualEqual, start, start + 2),
                '=' when next == '~' => Take(TokenKind.RegexMatch, start, start + 2),
                '=' => Take(TokenKind.Assign, start, start + 1),
                '!' when next == '=' => Take(TokenKind.NotEqual, start, start + 2),
                '!' when next == '~' => Take(TokenKind.RegexNoMatch, start, start + 2),
                '>' when next == '=' => Take(TokenKind.GreaterOrEqual, start, start + 2),
                '>' => Take(TokenKind.Greater, start, start + 1),
                '<' when next == '=' => Take(TokenKind.LessOrEqual, start, start + 2),
                '<' => Take(TokenKind.Less, start, start + 1),
                _ => Bad(start, start + 1, $"unexpected character \"{c}\""),
            };
        }

        private void SkipSpaceAndComments()
        {
            while (_position < text.Length)
            {
                var c = text[_position];
                if (c is ' ' or '\t' or '\n' or '\r')
                {
                    _position++;
                }
                else if (c == '#')
                {
                    while (_position < text.Length && text[_position] != '\n')
                    {
                        _position++;
                    }
                }
                else
                {
                    return;
                }
            }
        }

        private Token Take(TokenKind kind, int start, int end)
        {
            _position = end;
            return new Token(kind, start, text[start..end]);
        }

        private Token Bad(int start, int end, string problem)
        {
            _position = Math.Max(end, start + 1);
            return new Token(TokenKind.Bad, start, text[start..Math.Min(_position, text.Length)], 0, problem);
        }

        // PromQL's number: decimal with optional fraction and exponent, or 0x hex; a number directly followed by
        // letters is a duration (5m, 1h30m) or a bad literal.
        private Token LexNumber(int start)
        {
            var end = start;
            var hex = false;
            if (text[end] == '0' && end + 2 < text.Length && text[end + 1] is 'x' or 'X' && char.IsAsciiHexDigit(text[end + 2]))
            {
                hex = true;
                end += 2;
                while (end < text.Length && char.IsAsciiHexDigit(text[end]))
                {
                    end++;
                }
            }
            else
            {
                while (end < text.Length && char.IsAsciiDigit(text[end]))
                {
                    end++;
                }

                if (end < text.Length && text[end] == '.')
                {
                    end++;
                    while (end < text.Length && char.IsAsciiDigit(text[end]))
                    {
                        end++;
                    }
                }

                if (end < text.Length && text[end] is 'e' or 'E' && end + 1 < text.Length
                    && (char.IsAsciiDigit(text[end + 1]) || (text[end + 1] is '+' or '-' && end + 2 < text.Length && char.IsAsciiDigit(text[end + 2]))))
                {
                    end += 2;
                    while (end < text.Length && char.IsAsciiDigit(text[end]))
                    {
                        end++;
                    }
                }
            }

            if (end < text.Length && (char.IsAsciiLetterOrDigit(text[end]) || text[end] == '_'))
            {
                var wordEnd = end;
                while (wordEnd < text.Length && (char.IsAsciiLetterOrDigit(text[wordEnd]) || text[wordEnd] == '_'))
                {
                    wordEnd++;
                }

                var word = text[start..wordEnd];
                return !hex && PromDuration.TryParse(word, out _, out _) && word != "0"
                    ? Take(TokenKind.Duration, start, wordEnd)
                    : Bad(start, wordEnd, $"bad number or duration \"{word}\"");
            }

            var literal = text[start..end];
            if (!TryParseNumber(literal, out var value))
            {
                return Bad(start, end, $"number \"{literal}\" is out of range");
            }

            _position = end;
            return new Token(TokenKind.Number, start, literal, value);
        }

        // Go's string literals as PromQL lexes them: "…" and '…' with escapes (\a \b \f \n \r \t \v \\, the
        // quote itself, \NNN octal and \xNN bytes, \uNNNN and \UNNNNNNNN runes), `…` raw.
        private Token LexString(int start)
        {
            var quote = text[start];
            var bytes = new List<byte>();
            Span<byte> utf8 = stackalloc byte[4];
            var i = start + 1;
            while (true)
            {
                if (i >= text.Length || (quote != '`' && text[i] == '\n'))
                {
                    return Bad(start, i, "unterminated string");
                }

                var c = text[i];
                if (c == quote)
                {
                    i++;
                    break;
                }

                if (c == '\\' && quote != '`')
                {
                    var escapeStart = i;
                    var e = i + 1 < text.Length ? text[i + 1] : '\0';
                    i += 2;
                    switch (e)
                    {
                        case 'a': bytes.Add(7); continue;
                        case 'b': bytes.Add(8); continue;
                        case 'f': bytes.Add(12); continue;
                        case 'n': bytes.Add(10); continue;
                        case 'r': bytes.Add(13); continue;
                        case 't': bytes.Add(9); continue;
                        case 'v': bytes.Add(11); continue;
                        case '\\': bytes.Add((byte)'\\'); continue;
                        case '"' or '\'' when e == quote: bytes.Add((byte)e); continue;
                        case >= '0' and <= '7' or 'x' or 'u' or 'U':
                            {
                                var (digits, numberBase) = e switch { 'x' => (2, 16), 'u' => (4, 16), 'U' => (8, 16), _ => (3, 8) };
                                var first = e is >= '0' and <= '7' ? i - 1 : i;
                                if (first + digits > text.Length
                                    || !TryParseDigits(text.AsSpan(first, digits), numberBase, out var code))
                                {
                                    return Bad(escapeStart, escapeStart + 2, $"invalid escape sequence \"\\{e}\" in string");
                                }

                                i = first + digits;
                                if (e is 'x' or (>= '0' and <= '7'))
                                {
                                    if (code > 255)
                                    {
                                        return Bad(escapeStart, i, "octal escape out of range in string");
                                    }

                                    bytes.Add((byte)code);
                                }
                                else if (code > 0x10FFFF || code is >= 0xD800 and <= 0xDFFF)
                                {
                                    return Bad(escapeStart, i, $"escape \"{text[escapeStart..i]}\" is not a valid character");
                                }
                                else
                                {
                                    bytes.AddRange(utf8[..new Rune((int)code).EncodeToUtf8(utf8)]);
                                }

                                continue;
                            }

                        default:
                            return Bad(escapeStart, escapeStart + 2, $"unknown escape sequence \"\\{e}\" in string");
                    }
                }

                var length = char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;
                bytes.AddRange(utf8[..Encoding.UTF8.GetBytes(text.AsSpan(i, length), utf8)]);
                i += length;
            }

            string value;
            try
            {
                value = new UTF8Encoding(false, true).GetString(bytes.ToArray());
            }
            catch (DecoderFallbackException)
            {
                return Bad(start, i, "string is not valid UTF-8");
            }

            _position = i;
            return new Token(TokenKind.String, start, text[start..i], 0, value);
        }
    }

    /// <summary>
    /// A number as PromQL reads it (Go's <c>ParseInt(s, 0, 64)</c>, then <c>ParseFloat</c>): so <c>0x1f</c> is hex and
    /// <c>010</c> octal, as in Prometheus.
    /// </summary>
    private static bool TryParseNumber(string literal, out double value)
    {
        if (literal.Length > 2 && literal[0] == '0' && literal[1] is 'x' or 'X')
        {
            var ok = long.TryParse(literal.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var hex) && hex >= 0;
            value = hex;
            return ok;
        }

        if (literal.Length > 1 && literal[0] == '0' && literal.All(c => c is >= '0' and <= '7')
            && TryParseDigits(literal.AsSpan(1), 8, out var octal))
        {
            value = octal;
            return true;
        }

        value = double.Parse(literal, NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture);
        return !double.IsInfinity(value);
    }

    private static bool TryParseDigits(ReadOnlySpan<char> digits, int numberBase, out long value)
    {
        value = 0;
        foreach (var c in digits)
        {
            var digit = char.IsAsciiDigit(c) ? c - '0' : char.IsAsciiHexDigit(c) ? (char.ToLowerInvariant(c) - 'a' + 10) : 99;
            if (digit >= numberBase || value > (long.MaxValue - digit) / numberBase)
            {
                return false;
            }

            value = (value * numberBase) + digit;
        }

        return true;
    }

    /// <summary>PromQL reads <c>Inf</c> and <c>NaN</c> (any case) as numbers.</summary>
    private static bool IsSpecialNumber(string word, out double value)
    {
        value = string.Equals(word, "inf", StringComparison.OrdinalIgnoreCase) ? double.PositiveInfinity
            : string.Equals(word, "nan", StringComparison.OrdinalIgnoreCase) ? double.NaN
            : 0;
        return value != 0 || double.IsNaN(value);
    }

    private static CompareOp? ComparisonOf(TokenKind kind) => kind switch
    {
        TokenKind.Greater => CompareOp.Greater,
        TokenKind.GreaterOrEqual => CompareOp.GreaterOrEqual,
        TokenKind.Less => CompareOp.Less,
        TokenKind.LessOrEqual => CompareOp.LessOrEqual,
        TokenKind.EqualEqual => CompareOp.Equal,
        TokenKind.NotEqual => CompareOp.NotEqual,
        _ => null,
    };

    private static CompareOp Flip(CompareOp op) => op switch
    {
        CompareOp.Greater => CompareOp.Less,
        CompareOp.GreaterOrEqual => CompareOp.LessOrEqual,
        CompareOp.Less => CompareOp.Greater,
        CompareOp.LessOrEqual => CompareOp.GreaterOrEqual,
        _ => op,
    };

    /// <summary>True for a Prometheus label name: <c>[a-zA-Z_][a-zA-Z0-9_]*</c>.</summary>
    internal static bool IsLabelName(string name) =>
        name.Length > 0 && (char.IsAsciiLetter(name[0]) || name[0] == '_') && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    /// <summary>True for a Prometheus metric name: <c>[a-zA-Z_:][a-zA-Z0-9_:]*</c>.</summary>
    internal static bool IsMetricName(string name) =>
        name.Length > 0 && (char.IsAsciiLetter(name[0]) || name[0] is '_' or ':') && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or ':');

    /// <summary>
    /// Prometheus compiles matchers with Go's RE2; .NET's engine accepts more, and reads a few forms differently.
    /// Refuses what RE2 refuses or .NET would read otherwise, so a rule means the same here and in Prometheus.
    /// </summary>
    private static string? Re2Problem(string pattern)
    {
        for (var i = 0; i < pattern.Length; i++)
        {
            switch (pattern[i])
            {
                case '\\' when i + 1 < pattern.Length:
                    var e = pattern[++i];
                    if (e is >= '1' and <= '9' or 'k' or 'Z' or 'G')
                    {
                        return $"\"\\{e}\" is not supported (Prometheus uses RE2: no backreferences, \\Z or \\G)";
                    }

                    break;
                case '[':
                    // A class: "]" first (or after "^") is a literal; "[:alpha:]" inside is a POSIX class RE2 has and .NET lacks.
                    var j = i + 1;
                    if (j < pattern.Length && pattern[j] == '^')
                    {
                        j++;
                    }

                    if (j < pattern.Length && pattern[j] == ']')
                    {
                        j++;
                    }

                    for (; j < pattern.Length && pattern[j] != ']'; j++)
                    {
                        if (pattern[j] == '\\')
                        {
                            j++;
                        }
                        else if (pattern[j] == '[' && j + 1 < pattern.Length && pattern[j + 1] == ':')
                        {
                            return "POSIX classes such as [[:alpha:]] are not supported; write the class out (e.g. [a-zA-Z])";
                        }
                    }

                    i = j;
                    break;
                case '(' when i + 1 < pattern.Length && pattern[i + 1] == '?':
                    // Only flag groups (?i) (?i:…) with i, m, s are common to RE2 and .NET.
                    var k = i + 2;
                    while (k < pattern.Length && pattern[k] is 'i' or 'm' or 's' or '-')
                    {
                        k++;
                    }

                    if (k >= pattern.Length || pattern[k] is not (':' or ')') || (k == i + 2 && pattern[k] == ')'))
                    {
                        return $"\"{pattern[i..Math.Min(i + 3, pattern.Length)]}\" is not supported (Prometheus uses RE2: no lookaround, named, atomic or conditional groups; flags i, m and s only)";
                    }

                    break;
            }
        }

        return null;
    }

    /// <summary>"InsufficientClosingParentheses" → "insufficient closing parentheses".</summary>
    private static string Words(string pascal)
    {
        var words = new StringBuilder();
        foreach (var c in pascal)
        {
            if (char.IsUpper(c) && words.Length > 0)
            {
                words.Append(' ');
            }

            words.Append(char.ToLowerInvariant(c));
        }

        return words.ToString();
    }
}
