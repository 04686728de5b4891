import ArgumentParser
import Foundation
import StrictrunPolicy
import StrictrunSandbox

/// `strictrun profile …`: list, show, check and compile profiles.
struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile", abstract: "List, show, check and compile profiles.",
        subcommands: [List.self, Show.self, Check.self, BPF.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The profiles strictrun can find by name.")
        func run() throws {
            let loader = Environment.loader()
            for entry in loader.list() {
                let description = (try? loader.load(path: entry.path).description) ?? "(invalid: run `strictrun profile check \(entry.path)`)"
                Swift.print("\(entry.name.padding(toLength: 20, withPad: " ", startingAt: 0)) \(description)")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The resolved profile (extends merged) and its rules.")
        @Argument(help: "Profile name or path.") var profile: String
        func run() throws {
            let policy = Environment.compiledPolicy(profile)
            Swift.print(ProfileRendering.text(policy))
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a profile file and compile it; exit 1 with file:line and key when it is bad.")
        @Argument(help: "Profile file(s) or name(s).") var profiles: [String]
        func run() throws {
            var bad = false
            for reference in profiles {
                do {
                    let profile = try Environment.loader().load(reference)
                    let policy = try FilterCompiler().compile(profile)
                    Swift.print("ok: \(reference) — \(policy.rules.count) traced rules, \(policy.program.count) BPF instructions")
                } catch {
                    Environment.note("\(error)")
                    bad = true
                }
            }
            if bad { throw ExitCode(1) }
        }
    }

    struct BPF: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "bpf", abstract: "Dump the compiled filter, human-readable.")
        @Argument(help: "Profile name or path.") var profile: String
        @Flag(help: "Also print each BPF instruction, disassembled.") var raw = false
        /// Testing: say on stderr what the filter cache did.
        @Flag(help: .hidden) var filterCacheStats = false
        func run() throws {
            // The program from the filter cache when it holds it (the same program either way).
            let policy = Environment.compiledPolicy(profile, cached: true, cacheStats: filterCacheStats)
            Swift.print(ProfileRendering.ruleTable(policy))
            Swift.print("# libseccomp pseudo-filter code (\(policy.program.count) BPF instructions):")
            Swift.print(policy.pseudoCode)
            if raw {
                Swift.print("# BPF program:")
                Swift.print(BPFDisassembler.text(policy.program))
            }
        }
    }
}

enum ProfileRendering {
    static func ruleTable(_ policy: CompiledPolicy) -> String {
        var lines = ["# SECCOMP_RET_TRACE data → rule (what the tracer does):"]
        for (id, rule) in policy.rules.sorted(by: { $0.key < $1.key }) {
            let audited = rule.auditedFrom.map { " (audit of \($0))" } ?? ""
            let place = rule.location.map { "  ← \($0)" } ?? ""
            lines.append("#   \(id): \(rule.category)/\(rule.name) → \(rule.action)\(audited)\(place)")
        }
        if policy.rules.isEmpty { lines.append("#   (none: nothing is traced)") }
        return lines.joined(separator: "\n")
    }

    static func text(_ policy: CompiledPolicy) -> String {
        let p = policy.profile
        func line(_ key: String, _ setting: RuleSetting) -> String {
            let effective = p.effective(setting)
            let note = effective == setting.action ? "" : " (audit of \(setting.action))"
            return "  \(key): \(effective)\(note)" + (setting.location.map { "   # \($0)" } ?? "   # default")
        }
        var lines = [
            "name: \(p.name)",
            "description: \(p.description)",
            "sources: \(p.sources.joined(separator: " ← "))",
            "mode: \(p.mode.rawValue)",
            "process:", line("fork", p.process.fork), line("spawn", p.process.spawn), line("exec", p.process.exec),
            "  threads: allow   # always",
            "wx:", "  level: \(p.wx.level.rawValue)", line("action", p.wx.action),
            "escape:", line("foreign-abi", p.escape.foreignABI), line("untraced-clone", p.escape.untracedClone),
            line("ptrace", p.escape.ptrace), line("process-vm-writev", p.escape.processVMWrite),
            line("read-implies-exec", p.escape.readImpliesExec), line("seccomp", p.escape.seccompChange),
        ]
        if let tls = p.tls {
            lines += ["tls:", line("action", tls.action),
                      "  mediate: " + (tls.mediate == .all ? "all (every TCP stream; TLS told by its first bytes)"
                                         : "ports " + tls.ports.map(String.init).joined(separator: ",")),
                      "  mode: \(tls.relay ? "relay" : "terminate")",
                      "  trust: \(([tls.trustBundle ?? "system"] + tls.extraTrust).joined(separator: " + "))",
                      tls.keys.map { line("keys", $0) } ?? "  keys: allow (not checked)"]
        }
        if !p.rules.isEmpty {
            lines.append("rules:")
            for rule in p.rules {
                lines.append("  - \(rule.syscall) [\(rule.category)/\(rule.name)]: \(p.effective(rule.setting))"
                             + (rule.setting.location.map { "   # \($0)" } ?? ""))
            }
        }
        lines.append("kernel MDWE: \(policy.kernelMDWE ? "on" : "off"); BPF: \(policy.program.count) instructions")
        return lines.joined(separator: "\n")
    }
}
