import StrictrunResults
/// A command or value with `{name}` placeholders, split into words like a shell would (quotes,
/// backslashes) but never run by a shell: a shell that forks would itself trip a fork rule.
///
/// A word that is exactly `{flags}` (or another list-valued placeholder) becomes zero or more
/// words; anywhere else a list is joined with spaces. `{{` is a literal `{`; a `{` not followed
/// by a name and `}` is literal too, so `python -c 'print({})'` needs no escaping.
public struct Template: Sendable, Hashable, CustomStringConvertible {
    /// A piece of one word.
    public enum Piece: Sendable, Hashable {
        case literal(String)
        case placeholder(String)
    }

    /// The words, each a sequence of pieces.
    public var words: [[Piece]]
    /// The text as written in the suite file.
    public var source: String

    public var description: String { source }

    /// Every placeholder name used.
    public var placeholders: Set<String> {
        var names: Set<String> = []
        for word in words {
            for case .placeholder(let name) in word { names.insert(name) }
        }
        return names
    }

    /// A template already split into words (a YAML list): each item is one word, never split.
    public init(words items: [String]) {
        words = items.map { Template.pieces(of: $0) }
        source = items.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
    }

    /// One value (an `env:` entry, `cwd:`): a single word, never split.
    public init(value: String) {
        words = [Template.pieces(of: value)]
        source = value
    }

    /// A command line in shell syntax: words split at unquoted blanks, `'…'` and `"…"` quoting,
    /// `\` escaping. Throws a message on an unterminated quote.
    public init(commandLine text: String) throws(TemplateError) {
        source = text
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escape = false
        for character in text {
            if escape {
                current.append(character)
                escape = false
                continue
            }
            if let open = quote {
                if character == open {
                    quote = nil
                } else if character == "\\" && open == "\"" {
                    escape = true
                } else {
                    current.append(character)
                }
                continue
            }
            switch character {
            case " ", "\t", "\n":
                if inWord { words.append(current) }
                current = ""
                inWord = false
            case "'", "\"":
                quote = character
                inWord = true
            case "\\":
                escape = true
                inWord = true
            default:
                current.append(character)
                inWord = true
            }
        }
        if quote != nil { throw TemplateError(message: "unterminated quote in '\(text)'") }
        if escape { throw TemplateError(message: "trailing backslash in '\(text)'") }
        if inWord { words.append(current) }
        self.words = words.map { Template.pieces(of: $0) }
    }

    /// The words with every placeholder replaced. `lists` values replace a word that is exactly
    /// that placeholder with their items; `values` (and lists elsewhere, joined) go in place.
    public func expand(_ values: [String: String], lists: [String: [String]] = [:]) -> [String] {
        var out: [String] = []
        for word in words {
            if word.count == 1, case .placeholder(let name) = word[0], let items = lists[name] {
                out += items
                continue
            }
            var text = ""
            for piece in word {
                switch piece {
                case .literal(let literal): text += literal
                case .placeholder(let name):
                    text += values[name] ?? lists[name]?.joined(separator: " ") ?? "{\(name)}"
                }
            }
            out.append(text)
        }
        return out
    }

    /// The single value of a one-word template (`env:` and `cwd:`).
    public func expandValue(_ values: [String: String], lists: [String: [String]] = [:]) -> String {
        expand(values, lists: lists.mapValues { [$0.joined(separator: " ")] }).joined(separator: " ")
    }

    static func pieces(of word: String) -> [Piece] {
        var pieces: [Piece] = []
        var literal = ""
        var index = word.startIndex
        while index < word.endIndex {
            let character = word[index]
            if character == "{" {
                let next = word.index(after: index)
                if next < word.endIndex, word[next] == "{" {
                    literal.append("{")
                    index = word.index(after: next)
                    continue
                }
                if let close = word[next...].firstIndex(of: "}") {
                    let name = String(word[next..<close])
                    if isName(name) {
                        if !literal.isEmpty { pieces.append(.literal(literal)) }
                        literal = ""
                        pieces.append(.placeholder(name))
                        index = word.index(after: close)
                        continue
                    }
                }
            }
            literal.append(character)
            index = word.index(after: index)
        }
        if !literal.isEmpty || pieces.isEmpty { pieces.append(.literal(literal)) }
        return pieces
    }

    /// `[a-z][a-z0-9_-]*`: what counts as a placeholder name.
    static func isName(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, ("a"..."z").contains(first) else { return false }
        return text.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-" }
    }
}

/// A command line that cannot be split into words.
public struct TemplateError: Error, Sendable {
    public var message: String
}
