/// What `strictrun run` was asked, as plain values: what `Run` (swift-argument-parser's
/// declarations, help and errors) parsed, or what `RunArguments.recognize` read from a
/// command line in the few shapes a launcher is usually given.
struct LaunchOptions: Equatable {
    var profile = "microkernel"
    var trace: String?
    var audit = false
    var quiet = false
    var noStacks = false
    var stackDepth = 64
    var siteCap = 20
    var siteFrames = 5
    var jsFrames = false
    var answers: [String] = []
    var filterOnly = false
    var filterCacheStats = false
    var injectFailure: [String] = []
    /// The program and its arguments as `Run` captures them (a leading `--` kept).
    var command: [String] = []
}

/// The launcher's way past swift-argument-parser for the common `run` command lines.
///
/// `Run.parse` builds `Run`'s argument set by reflection, and every first (type, protocol)
/// pair it looks up scans the binary's ~8,700 protocol conformance records: that was ~15 % of
/// an untripped run's CPU, the largest single part of strictrun's start-up. This recognizer
/// accepts a subset of what `Run` accepts — long and short options spelt exactly as declared,
/// `--opt=value`, a value that does not start with `-`, then `--` or the program — and gives
/// up (nil) on anything else: help, `--version`, a typo, a missing or dash-leading value,
/// joined short flags, the hidden testing options. Then `Run.parse` decides, with its messages.
/// `RunArgumentsTests` holds both parsers to the same answer for every shape accepted here.
enum RunArguments {
    /// The long name of an option `Run` declares (hidden ones left to `Run.parse`), by spelling.
    /// A switch, not a dictionary: a global collection's first use costs generic metadata and
    /// conformance lookups, which were ~2 % of an untripped run.
    private static func longName(_ spelling: String) -> String? {
        switch spelling {
        case "--profile", "-p": "--profile"
        case "--trace", "-t": "--trace"
        case "--quiet", "-q": "--quiet"
        case "--audit", "--no-stacks", "--js-frames", "--stack-depth", "--site-cap", "--site-frames", "--answer":
            spelling
        default: nil
        }
    }

    private static func isFlag(_ name: String) -> Bool {
        switch name {
        case "--audit", "--quiet", "--no-stacks", "--js-frames": true
        default: false
        }
    }

    /// `arguments`: what follows `run` on the command line.
    static func recognize(_ arguments: [String]) -> LaunchOptions? {
        var result = LaunchOptions()
        var seen: [String] = []
        var index = 0
        while index < arguments.count {
            let word = arguments[index]
            if word == "--" || !word.hasPrefix("-") {
                result.command = Array(arguments[index...])
                // `--` and nothing after it: no program (Run.run says so).
                return result.command == ["--"] ? nil : result
            }
            var spelling = word
            var inline: String?
            if word.hasPrefix("--"), let equals = word.firstIndex(of: "=") {
                spelling = String(word[..<equals])
                inline = String(word[word.index(after: equals)...])
            }
            // Unknown here (help, --version, a typo, a hidden option, "-", joined short flags):
            // Run.parse decides. So it does for an option given twice (bar --answer).
            guard let name = longName(spelling), name == "--answer" || !seen.contains(name) else { return nil }
            seen.append(name)
            if isFlag(name) {
                guard inline == nil else { return nil }
                switch name {
                case "--audit": result.audit = true
                case "--quiet": result.quiet = true
                case "--no-stacks": result.noStacks = true
                default: result.jsFrames = true
                }
                index += 1
                continue
            }
            let value: String
            if let inline {
                value = inline
                index += 1
            } else {
                guard index + 1 < arguments.count else { return nil }
                value = arguments[index + 1]
                index += 2
            }
            guard !value.isEmpty, !value.hasPrefix("-") else { return nil }
            switch name {
            case "--profile": result.profile = value
            case "--trace": result.trace = value
            case "--answer": result.answers.append(value)
            default:
                guard value.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                      let number = Int(value) else { return nil }
                switch name {
                case "--stack-depth": result.stackDepth = number
                case "--site-cap": result.siteCap = number
                default: result.siteFrames = number
                }
            }
        }
        // No program: Run.parse and Run.run say so.
        return nil
    }
}
