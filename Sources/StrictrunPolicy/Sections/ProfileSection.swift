import Foundation
import Yams

// The top level of a profile: `name`, `description`, `extends`, `mode`, and the sections
// below it (each in its own file of this folder).

/// `enforce` applies every rule as written; `audit` logs instead of denying or killing.
public enum Mode: String, Sendable, Hashable, CaseIterable {
    case enforce
    case audit
}

/// A fully resolved profile: `extends` merged, defaults applied, every value validated.
public struct Profile: Sendable, Hashable {
    public var name: String
    public var description: String
    /// The files this profile was read from, the profile itself first, then what it extends.
    public var sources: [String]
    public var mode: Mode
    public var process: ProcessPolicy
    public var wx: WXPolicy
    /// Side doors (category `escape`).
    public var escape: EscapePolicy
    /// Mediated TLS; nil when the profile has no `tls` section.
    public var tls: TLSPolicy?
    public var rules: [SyscallRule]
    /// Files as the target serves them; nil when the profile has no `fs` section.
    public var fs: FSPolicy? = nil
    /// Sockets as the target offers them; nil when the profile has no `net` section.
    public var net: NetPolicy? = nil
    /// Calls blocked at a given call site answered differently (`answers:`, `run --answer`);
    /// the last entry that covers a call wins.
    public var answers: [SiteAnswer] = []

    /// The profile that allows everything and logs nothing (the baseline of a run).
    public static let unconfined = Profile(
        name: "unconfined", description: "No rules.", sources: [], mode: .enforce,
        process: ProcessPolicy(fork: RuleSetting(.allow), spawn: RuleSetting(.allow),
                               exec: RuleSetting(.allow)),
        wx: WXPolicy(level: .off, action: RuleSetting(.deny(errno: EACCES))),
        escape: EscapePolicy(foreignABI: RuleSetting(.allow), untracedClone: RuleSetting(.allow),
                             ptrace: RuleSetting(.allow), processVMWrite: RuleSetting(.allow),
                             readImpliesExec: RuleSetting(.allow), seccompChange: RuleSetting(.allow)),
        tls: nil, rules: [])

    /// The action in force for a setting, after `mode`.
    public func effective(_ setting: RuleSetting) -> Action { setting.action.audited(mode) }
}

/// One profile file as written: every value optional, each with its location. `extends`
/// is resolved by merging documents; defaults are applied only at the end (`resolved`).
struct ProfileDocument: Sendable {
    var file: String
    var name: String?
    var description: String?
    var extends: (name: String, location: SourceLocation?)?
    var mode: Mode?
    var process = ProcessDocument()
    var wx = WXDocument()
    var escape = EscapeDocument()
    var rules = RulesDocument()
    var tls: TLSDocument?
    var fs: FSDocument?
    var net: NetDocument?
    var answers = AnswersDocument()

    /// `self` over `base`: every value `self` sets wins; rules add up, a later rule for the
    /// same syscall and category replacing an earlier one.
    func merged(over base: ProfileDocument) -> ProfileDocument {
        var out = base
        out.file = file
        out.name = name ?? base.name
        out.description = description ?? base.description
        out.extends = extends
        out.mode = mode ?? base.mode
        out.process = process.merged(over: base.process)
        out.wx = wx.merged(over: base.wx)
        out.escape = escape.merged(over: base.escape)
        out.tls = tls.map { $0.merged(over: base.tls) } ?? base.tls
        out.fs = fs.map { $0.merged(over: base.fs) } ?? base.fs
        out.net = net.map { $0.merged(over: base.net) } ?? base.net
        out.rules = rules.merged(over: base.rules)
        out.answers = answers.merged(over: base.answers)
        return out
    }

    /// The profile with every default applied.
    func resolved(sources: [String]) -> Profile {
        Profile(
            name: name ?? "profile",
            description: description ?? "",
            sources: sources,
            mode: mode ?? .enforce,
            process: process.resolved(),
            wx: wx.resolved(),
            escape: escape.resolved(),
            tls: tls?.resolved(),
            rules: rules.rules,
            fs: fs?.resolved(),
            net: net?.resolved(),
            answers: answers.answers)
    }
}

extension ProfileDocumentReader {
    /// The top-level keys, in the order errors list them.
    static let topLevelKeys = ["name", "description", "extends", "mode", "process", "wx", "escape",
                               "tls", "fs", "net", "rules", "answers"]

    /// Read one profile file's text.
    func read(yaml text: String) throws(ProfileError) -> ProfileDocument {
        let root = try nodes.compose(text, emptyMessage: "empty profile")
        let top = try nodes.mapping(root, key: nil)
        var doc = ProfileDocument(file: file)
        for (keyNode, value) in top {
            let key = try nodes.keyName(keyNode, parent: nil)
            switch key {
            case "name": doc.name = try nodes.string(value, key: key)
            case "description": doc.description = try nodes.string(value, key: key)
            case "extends": doc.extends = (try nodes.string(value, key: key), nodes.location(value))
            case "mode": doc.mode = try enumValue(value, key: key, Mode.self)
            case "process": doc.process = try readProcess(value)
            case "wx": doc.wx = try readWX(value)
            case "escape": doc.escape = try readEscape(value)
            case "rules": doc.rules = try readRules(value)
            case "tls": doc.tls = try readTLS(value)
            case "fs": doc.fs = try readFS(value)
            case "net": doc.net = try readNet(value)
            case "answers": doc.answers = try readAnswers(value)
            default:
                throw nodes.unknownKey(keyNode, key: key, known: Self.topLevelKeys)
            }
        }
        return doc
    }
}
