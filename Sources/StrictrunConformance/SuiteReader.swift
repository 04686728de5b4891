import Foundation
import Yams
import StrictrunResults

/// A suite file as written: values with their locations, variables not yet resolved.
struct SuiteDocument {
    /// A `variables:` entry: a fixed value or a command whose output is the value.
    enum Variable {
        case value(String)
        case command(Template)
    }

    var suite: Suite
    var variables: [(name: String, variable: Variable, location: SourceLocation?)] = []
    var rootText: String?
    var rootLocation: SourceLocation?
    /// `runtime-version:`: a command whose output is the runtime's version (run at load).
    var runtimeVersion: (command: Template, location: SourceLocation?)?
    /// Every template with the key it came from, to check placeholder names once variables are known.
    var templates: [(key: String, template: Template, location: SourceLocation?)] = []
}

/// Reads a suite file with Yams (basic resolver, like profiles), rejecting unknown keys, wrong
/// types and bad values with the file, line, column and key.
struct SuiteReader {
    let file: String
    var nodes: YAMLNodes { YAMLNodes(file: file) }

    func read(yaml text: String) throws(SuiteError) -> SuiteDocument {
        let root = try nodes.compose(text, emptyMessage: "empty suite file")
        let defaultName = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        var doc = SuiteDocument(suite: Suite(
            name: defaultName, description: "", file: file, root: "", variables: [:], tests: Suite.TestSource(),
            command: Template(words: []), commandLocation: nil, flagsPattern: nil,
            directory: Template(value: "{root}"), environment: [], timeout: 120, retries: 1, groups: [],
            recordEnvironment: []))
        var sawCommand = false
        var sawTests = false
        let known = ["name", "description", "root", "variables", "tests", "command", "flags", "cwd", "env",
                     "timeout", "retries", "skip-exit-codes", "groups", "record-env", "runtime-version"]
        for (keyNode, value) in try nodes.mapping(root, key: nil) {
            let key = try nodes.keyName(keyNode, parent: nil)
            switch key {
            case "name": doc.suite.name = try nodes.string(value, key: key)
            case "description": doc.suite.description = try nodes.string(value, key: key)
            case "root":
                doc.rootText = try nodes.string(value, key: key)
                doc.rootLocation = nodes.location(value)
            case "variables": doc.variables = try readVariables(value)
            case "tests":
                doc.suite.tests = try readTests(value, into: &doc)
                sawTests = true
            case "command":
                doc.suite.command = try template(value, key: key, into: &doc)
                doc.suite.commandLocation = nodes.location(value)
                sawCommand = true
            case "flags": doc.suite.flagsPattern = try readFlags(value)
            case "cwd": doc.suite.directory = try valueTemplate(value, key: key, into: &doc)
            case "env":
                for (nameNode, valueNode) in try nodes.mapping(value, key: key) {
                    let name = try nodes.keyName(nameNode, parent: key)
                    let item = try valueTemplate(valueNode, key: "env.\(name)", into: &doc)
                    doc.suite.environment.append((name, item))
                }
            case "timeout": doc.suite.timeout = try seconds(value, key: key)
            case "retries":
                let text = try nodes.string(value, key: key)
                guard let count = Int(text), (0...5).contains(count) else {
                    throw SuiteError(at: nodes.location(value), file: file, key: key, "expected a whole number from 0 to 5, found '\(text)'")
                }
                doc.suite.retries = count
            case "skip-exit-codes":
                for (index, item) in try strings(value, key: key).enumerated() {
                    guard let code = Int(item), (1...255).contains(code) else {
                        throw SuiteError(at: nodes.location(value), file: file, key: "\(key)[\(index)]",
                                         "expected an exit status from 1 to 255, found '\(item)'")
                    }
                    doc.suite.skipExitCodes.append(code)
                }
            case "groups": doc.suite.groups = try readGroups(value)
            case "record-env": doc.suite.recordEnvironment = try strings(value, key: key)
            case "runtime-version": doc.runtimeVersion = (try commandTemplate(value, key: key), nodes.location(value))
            default: throw nodes.unknownKey(keyNode, key: key, known: known)
            }
        }
        guard sawCommand, !doc.suite.command.words.isEmpty else {
            throw SuiteError(at: nodes.location(root), file: file, key: "command", "missing: the command that runs one test, e.g. 'node {flags} {file}'")
        }
        guard sawTests else {
            throw SuiteError(at: nodes.location(root), file: file, key: "tests", "missing: where the tests are (files, list or command)")
        }
        return doc
    }

    // MARK: sections

    private func readVariables(_ node: Node) throws(SuiteError) -> [(String, SuiteDocument.Variable, SourceLocation?)] {
        var out: [(String, SuiteDocument.Variable, SourceLocation?)] = []
        for (nameNode, value) in try nodes.mapping(node, key: "variables") {
            let name = try nodes.keyName(nameNode, parent: "variables")
            let key = "variables.\(name)"
            guard Template.isName(name) else {
                throw SuiteError(at: nodes.location(nameNode), file: file, key: key, "a variable name is lower case letters, digits, '-' and '_'")
            }
            guard !Suite.builtinPlaceholders.contains(name) else {
                throw SuiteError(at: nodes.location(nameNode), file: file, key: key, "'\(name)' is a built-in placeholder")
            }
            if case .scalar = value {
                out.append((name, .value(try nodes.string(value, key: key)), nodes.location(value)))
                continue
            }
            var command: Template?
            for (subNode, subValue) in try nodes.mapping(value, key: key) {
                let sub = try nodes.keyName(subNode, parent: key)
                switch sub {
                case "command": command = try commandTemplate(subValue, key: "\(key).command")
                default: throw nodes.unknownKey(subNode, key: "\(key).\(sub)", known: ["command"])
                }
            }
            guard let command else { throw SuiteError(at: nodes.location(value), file: file, key: "\(key).command", "missing") }
            out.append((name, .command(command), nodes.location(value)))
        }
        return out
    }

    private func readTests(_ node: Node, into doc: inout SuiteDocument) throws(SuiteError) -> Suite.TestSource {
        var source = Suite.TestSource()
        for (keyNode, value) in try nodes.mapping(node, key: "tests") {
            let key = try nodes.keyName(keyNode, parent: "tests")
            let path = "tests.\(key)"
            switch key {
            case "files": source.files = try strings(value, key: path).map(Glob.init)
            case "list": source.list = try strings(value, key: path)
            case "command":
                let command = try commandTemplate(value, key: path)
                doc.templates.append((path, command, nodes.location(value)))
                source.command = command
                source.commandLocation = nodes.location(value)
            case "exclude": source.exclude = try strings(value, key: path).map(Glob.init)
            case "strip-extension": source.stripExtension = try bool(value, key: path)
            default:
                throw nodes.unknownKey(keyNode, key: path, known: ["files", "list", "command", "exclude", "strip-extension"])
            }
        }
        if source.files.isEmpty && source.list.isEmpty && source.command == nil {
            throw SuiteError(at: nodes.location(node), file: file, key: "tests", "needs 'files', 'list' or 'command'")
        }
        return source
    }

    private func readFlags(_ node: Node) throws(SuiteError) -> String {
        var pattern: String?
        var patternNode = node
        for (keyNode, value) in try nodes.mapping(node, key: "flags") {
            let key = try nodes.keyName(keyNode, parent: "flags")
            switch key {
            case "pattern":
                pattern = try nodes.string(value, key: "flags.pattern")
                patternNode = value
            default: throw nodes.unknownKey(keyNode, key: "flags.\(key)", known: ["pattern"])
            }
        }
        guard let pattern else { throw SuiteError(at: nodes.location(node), file: file, key: "flags.pattern", "missing") }
        do {
            let regex = try NSRegularExpression(pattern: pattern, options: [.anchorsMatchLines])
            guard regex.numberOfCaptureGroups >= 1 else {
                throw SuiteError(at: nodes.location(patternNode), file: file, key: "flags.pattern",
                                 "needs a capture group: its text is the flags, e.g. '^// Flags: (.*)$'")
            }
        } catch let error as SuiteError {
            throw error
        } catch {
            throw SuiteError(at: nodes.location(patternNode), file: file, key: "flags.pattern", "not a regular expression: \(error.localizedDescription)")
        }
        return pattern
    }

    private func readGroups(_ node: Node) throws(SuiteError) -> [Suite.Group] {
        guard case .sequence(let items) = node else { throw nodes.typeError(node, key: "groups", expected: "a list of groups") }
        var groups: [Suite.Group] = []
        for (index, item) in items.enumerated() {
            let base = "groups[\(index)]"
            var name: String?
            var match: [Glob] = []
            var serial = false
            var timeout: Double?
            for (keyNode, value) in try nodes.mapping(item, key: base) {
                let key = try nodes.keyName(keyNode, parent: base)
                let path = "\(base).\(key)"
                switch key {
                case "name": name = try nodes.string(value, key: path)
                case "match": match = try strings(value, key: path).map(Glob.init)
                case "serial": serial = try bool(value, key: path)
                case "timeout": timeout = try seconds(value, key: path)
                default: throw nodes.unknownKey(keyNode, key: path, known: ["name", "match", "serial", "timeout"])
                }
            }
            guard let name else { throw SuiteError(at: nodes.location(item), file: file, key: "\(base).name", "missing") }
            guard !match.isEmpty else { throw SuiteError(at: nodes.location(item), file: file, key: "\(base).match", "missing: globs on test ids, e.g. 'sequential/*'") }
            groups.append(Suite.Group(name: name, match: match, serial: serial, timeout: timeout))
        }
        return groups
    }

    // MARK: values

    /// A command: a string in shell syntax, or a list with one word per item.
    private func commandTemplate(_ node: Node, key: String) throws(SuiteError) -> Template {
        switch node {
        case .scalar:
            let text = try nodes.string(node, key: key)
            do throws(TemplateError) {
                let template = try Template(commandLine: text)
                guard !template.words.isEmpty else { throw TemplateError(message: "empty command") }
                return template
            } catch {
                throw SuiteError(at: nodes.location(node), file: file, key: key, error.message)
            }
        case .sequence:
            let words = try strings(node, key: key)
            guard !words.isEmpty else { throw SuiteError(at: nodes.location(node), file: file, key: key, "empty command") }
            return Template(words: words)
        default:
            throw nodes.typeError(node, key: key, expected: "a command (a string or a list of words)")
        }
    }

    private func template(_ node: Node, key: String, into doc: inout SuiteDocument) throws(SuiteError) -> Template {
        let result = try commandTemplate(node, key: key)
        doc.templates.append((key, result, nodes.location(node)))
        return result
    }

    private func valueTemplate(_ node: Node, key: String, into doc: inout SuiteDocument) throws(SuiteError) -> Template {
        let result = Template(value: try nodes.string(node, key: key))
        doc.templates.append((key, result, nodes.location(node)))
        return result
    }

    private func seconds(_ node: Node, key: String) throws(SuiteError) -> Double {
        let text = try nodes.string(node, key: key)
        guard let value = Double(text), value > 0, value.isFinite else {
            throw SuiteError(at: nodes.location(node), file: file, key: key, "expected a number of seconds above 0, found '\(text)'")
        }
        return value
    }

    private func bool(_ node: Node, key: String) throws(SuiteError) -> Bool {
        let text = try nodes.string(node, key: key)
        switch text {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw SuiteError(at: nodes.location(node), file: file, key: key, "expected true or false, found '\(text)'")
        }
    }

    private func strings(_ node: Node, key: String) throws(SuiteError) -> [String] {
        if case .scalar = node { return [try nodes.string(node, key: key)] }
        guard case .sequence(let items) = node else { throw nodes.typeError(node, key: key, expected: "a list of strings") }
        var out: [String] = []
        for (index, item) in items.enumerated() { out.append(try nodes.string(item, key: "\(key)[\(index)]")) }
        return out
    }
}
