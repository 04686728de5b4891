#if canImport(Glibc)
import Glibc
#endif
import Yams

// The `answers` section: calls blocked at one call site (the trace's `site` id) answered
// differently from the rest of the profile, e.g.
//
//   answers:
//     - {site: 3f2a9c0d11e4b7a2, action: ENOSYS}              # every call blocked at that site
//     - {site: 3f2a9c0d11e4b7a2, syscall: clone, action: allow}
//     - {rule: process/fork, action: allow}                   # every site of one rule (ablation)

/// What a blocked call at an answered site gets instead of the profile's answer.
public enum AnswerAction: Sendable, Hashable, CustomStringConvertible {
    /// The profile's own answer (the baseline a comparison starts from).
    case profile
    /// The call fails with this errno (e.g. ENOSYS: "not implemented", which runtimes often fall back on).
    case errno(Int32)
    /// The call is skipped and returns 0: the target accepts it and does nothing.
    case noop
    /// The constraint is lifted at this site only: the call runs.
    case allow

    /// The word profiles and `--answer` use: `profile`, `ENOSYS`, `noop`, `allow`.
    public var description: String {
        switch self {
        case .profile: "profile"
        case .errno(let code): ErrnoName.name(of: code)
        case .noop: "noop"
        case .allow: "allow"
        }
    }

    /// Parses `profile`, `noop`, `allow` or an errno name; nil for anything else.
    public init?(word: String) {
        switch word {
        case "profile": self = .profile
        case "noop": self = .noop
        case "allow": self = .allow
        default:
            guard word.hasPrefix("E"), let code = ErrnoName.value(of: word) else { return nil }
            self = .errno(code)
        }
    }

    /// The policy action that carries this answer out (nil: keep the profile's).
    public var action: Action? {
        switch self {
        case .profile: nil
        case .errno(let code): .deny(errno: code)
        case .noop: .noop
        case .allow: .allow
        }
    }
}

/// One entry of `answers:`: which blocked calls it covers (a call site, optionally one
/// syscall there; or every site of one rule) and what they get.
public struct SiteAnswer: Sendable, Hashable, CustomStringConvertible {
    /// The call site id (16 lowercase hex digits, as the trace's `site`); nil: every site of `rule`.
    public var site: String?
    /// Only this syscall at the site (nil: every call blocked there).
    public var syscall: String?
    /// Only calls of this rule, as `name` or `category/name` (nil: any rule).
    public var rule: String?
    public var action: AnswerAction
    /// Where the entry was written (nil: from `run --answer`).
    public var location: SourceLocation?

    public init(site: String?, syscall: String? = nil, rule: String? = nil, action: AnswerAction,
                location: SourceLocation? = nil) {
        self.site = site
        self.syscall = syscall
        self.rule = rule
        self.action = action
        self.location = location
    }

    /// Whether a blocked call of `rule` (`category`/`name`), `syscall`, at `site` is covered.
    public func covers(site callSite: String?, syscall name: String, category: String, rule ruleName: String) -> Bool {
        if let site, site != callSite { return false }
        if let syscall, syscall != name { return false }
        if let rule, rule != ruleName && rule != category + "/" + ruleName { return false }
        return true
    }

    /// Whether the entry needs the call site at all (a rule-wide answer does not).
    public var needsSite: Bool { site != nil }

    /// `SITE[:SYSCALL]=ACTION` or `rule=RULE=ACTION`, as `run --answer` takes it.
    public var description: String {
        if let site { return site + (syscall.map { ":" + $0 } ?? "") + "=" + action.description }
        return "rule=" + (rule ?? "?") + (syscall.map { ":" + $0 } ?? "") + "=" + action.description
    }

    /// Whether `text` has the form of a call site id.
    public static func isSiteID(_ text: String) -> Bool {
        text.count == 16 && text.allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }

    /// Parses `run --answer`: `SITE[:SYSCALL]=ACTION` or `rule=RULE[:SYSCALL]=ACTION`
    /// (RULE is `name` or `category/name`). `syscallExists` validates the syscall name.
    public static func parse(_ text: String, syscallExists: (String) -> Bool) throws(AnswerParseError) -> SiteAnswer {
        guard let equals = text.lastIndex(of: "=") else {
            throw AnswerParseError(text, "expected SITE[:SYSCALL]=ACTION or rule=RULE[:SYSCALL]=ACTION")
        }
        let word = String(text[text.index(after: equals)...])
        guard let action = AnswerAction(word: word) else {
            throw AnswerParseError(text, "unknown answer '\(word)' (expected profile, noop, allow or an errno name such as ENOSYS)")
        }
        var target = String(text[..<equals])
        var rule: String?
        if target.hasPrefix("rule=") {
            target.removeFirst(5)
            rule = ""
        }
        var syscall: String?
        if let colon = target.firstIndex(of: ":") {
            syscall = String(target[target.index(after: colon)...])
            target = String(target[..<colon])
            guard syscallExists(syscall!) else { throw AnswerParseError(text, "unknown syscall '\(syscall!)' on x86_64") }
        }
        if rule != nil {
            guard !target.isEmpty else { throw AnswerParseError(text, "no rule named") }
            return SiteAnswer(site: nil, syscall: syscall, rule: target, action: action)
        }
        guard isSiteID(target) else {
            throw AnswerParseError(text, "'\(target)' is not a call site id (16 lowercase hex digits, the trace's `site`)")
        }
        return SiteAnswer(site: target, syscall: syscall, action: action)
    }
}

/// A `run --answer` value that cannot be used.
public struct AnswerParseError: Error, Sendable, CustomStringConvertible {
    public var text: String
    public var message: String
    init(_ text: String, _ message: String) {
        self.text = text
        self.message = message
    }
    public var description: String { "--answer \(text): \(message)" }
}

/// The `answers` list as written: a later file's entries come after (and take precedence over)
/// the base's, since the first matching entry from the end wins.
struct AnswersDocument: Sendable {
    var answers: [SiteAnswer] = []

    func merged(over base: AnswersDocument) -> AnswersDocument {
        AnswersDocument(answers: base.answers + answers)
    }
}

extension ProfileDocumentReader {
    func readAnswers(_ node: Node) throws(ProfileError) -> AnswersDocument {
        guard case .sequence(let items) = node else {
            throw nodes.typeError(node, key: "answers", expected: "a list of {site, syscall, action}")
        }
        var answers: [SiteAnswer] = []
        for (index, item) in items.enumerated() {
            answers.append(try readAnswer(item, base: "answers[\(index)]"))
        }
        return AnswersDocument(answers: answers)
    }

    private func readAnswer(_ item: Node, base: String) throws(ProfileError) -> SiteAnswer {
        var site: String?
        var syscall: String?
        var rule: String?
        var action: AnswerAction?
        for (keyNode, value) in try nodes.mapping(item, key: base) {
            let key = try nodes.keyName(keyNode, parent: base)
            let path = "\(base).\(key)"
            switch key {
            case "site":
                let word = try nodes.string(value, key: path)
                guard SiteAnswer.isSiteID(word) else {
                    throw ProfileError(at: nodes.location(value), file: file, key: path,
                                       "'\(word)' is not a call site id (16 lowercase hex digits, the trace's `site`)")
                }
                site = word
            case "syscall":
                let word = try nodes.string(value, key: path)
                guard syscallExists(word) else {
                    throw ProfileError(at: nodes.location(value), file: file, key: path, "unknown syscall '\(word)' on x86_64")
                }
                syscall = word
            case "rule": rule = try nodes.string(value, key: path)
            case "action":
                let word = try nodes.string(value, key: path)
                guard let parsed = AnswerAction(word: word) else {
                    throw ProfileError(at: nodes.location(value), file: file, key: path,
                                       "unknown answer '\(word)' (expected profile, noop, allow or an errno name such as ENOSYS)")
                }
                action = parsed
            default:
                throw nodes.unknownKey(keyNode, key: path, known: ["site", "syscall", "rule", "action"])
            }
        }
        guard site != nil || rule != nil else {
            throw ProfileError(at: nodes.location(item), file: file, key: "\(base).site", "missing (or name a 'rule')")
        }
        guard let action else {
            throw ProfileError(at: nodes.location(item), file: file, key: "\(base).action", "missing")
        }
        return SiteAnswer(site: site, syscall: syscall, rule: rule, action: action, location: nodes.location(item))
    }
}
