import Foundation
import StrictrunResults

/// Loads a suite file and finds its tests: resolves the root and `variables:` (running their
/// commands natively), checks every placeholder, lists the tests, reads their flags and groups.
public struct SuiteLoader: Sendable {
    /// The caller's environment: variable commands and test listings run with it.
    public var environment: [String: String]
    /// `--root`: replaces the file's `root:`.
    public var rootOverride: String?
    /// `--set name=value`: replaces or adds variables.
    public var overrides: [String: String]

    public init(environment: [String: String], rootOverride: String? = nil, overrides: [String: String] = [:]) {
        self.environment = environment
        self.rootOverride = rootOverride
        self.overrides = overrides
    }

    /// Read and validate the suite at `path`.
    public func load(path: String) throws(SuiteError) -> Suite {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        let text: String
        let bytes: Data
        do {
            bytes = try Data(contentsOf: URL(fileURLWithPath: absolute))
            text = try String(contentsOfFile: absolute, encoding: .utf8)
        } catch {
            throw SuiteError(file: path, message: "cannot read: \((error as NSError).localizedFailureReason ?? error.localizedDescription)")
        }
        var doc = try SuiteReader(file: absolute).read(yaml: text)
        doc.suite.sha256 = ContentHash.sha256(bytes)
        let suiteDirectory = URL(fileURLWithPath: absolute).deletingLastPathComponent().path
        let cwd = FileManager.default.currentDirectoryPath
        if let rootOverride {
            doc.suite.root = URL(fileURLWithPath: rootOverride, relativeTo: URL(fileURLWithPath: cwd + "/")).standardizedFileURL.path
        } else {
            let written = doc.rootText ?? "."
            doc.suite.root = URL(fileURLWithPath: written, relativeTo: URL(fileURLWithPath: suiteDirectory + "/")).standardizedFileURL.path
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: doc.suite.root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw SuiteError(at: rootOverride == nil ? doc.rootLocation : nil, file: absolute,
                             key: rootOverride == nil ? "root" : nil,
                             "the test root \(doc.suite.root) is not a directory\(rootOverride == nil ? "" : " (--root)")")
        }

        var variables: [String: String] = ["root": doc.suite.root, "suite-dir": suiteDirectory]
        for (name, variable, location) in doc.variables {
            if let value = overrides[name] {
                variables[name] = value
                continue
            }
            switch variable {
            case .value(let value):
                variables[name] = Template(value: value).expandValue(variables)
            case .command(let command):
                try checkPlaceholders(command, known: Set(variables.keys), key: "variables.\(name)", location: location, file: absolute)
                let argv = command.expand(variables)
                let result: (Termination?, String)
                do {
                    result = try ProcessControl.capture(argv, environment: environment, directory: doc.suite.root)
                } catch {
                    throw SuiteError(at: location, file: absolute, key: "variables.\(name)", "cannot run \(argv.joined(separator: " ")): \(error)")
                }
                guard result.0 == .exited(0) else {
                    throw SuiteError(at: location, file: absolute, key: "variables.\(name)",
                                     "\(argv.joined(separator: " ")) failed (\(result.0.map(String.init(describing:)) ?? "timed out")): \(result.1.prefix(300))")
                }
                variables[name] = result.1.trimmingCharacters(in: .whitespacesAndNewlines)
            }
        }
        for (name, value) in overrides where variables[name] == nil { variables[name] = value }
        doc.suite.variables = variables
        if let (command, location) = doc.runtimeVersion {
            try checkPlaceholders(command, known: Set(variables.keys), key: "runtime-version", location: location, file: absolute)
            let argv = command.expand(variables)
            let result: (Termination?, String)
            do {
                result = try ProcessControl.capture(argv, environment: environment, directory: doc.suite.root)
            } catch {
                throw SuiteError(at: location, file: absolute, key: "runtime-version", "cannot run \(argv.joined(separator: " ")): \(error)")
            }
            guard result.0 == .exited(0) else {
                throw SuiteError(at: location, file: absolute, key: "runtime-version",
                                 "\(argv.joined(separator: " ")) failed (\(result.0.map(String.init(describing:)) ?? "timed out")): \(result.1.prefix(300))")
            }
            doc.suite.runtimeVersion = result.1.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        let known = Suite.builtinPlaceholders.union(variables.keys)
        for (key, template, location) in doc.templates {
            try checkPlaceholders(template, known: key == "tests.command" ? Set(variables.keys) : known,
                                  key: key, location: location, file: absolute)
        }
        return doc.suite
    }

    private func checkPlaceholders(_ template: Template, known: Set<String>, key: String,
                                   location: SourceLocation?, file: String) throws(SuiteError) {
        if let unknown = template.placeholders.subtracting(known).sorted().first {
            throw SuiteError(at: location, file: file, key: key,
                             "unknown placeholder '{\(unknown)}' (known here: \(known.sorted().map { "{\($0)}" }.joined(separator: ", ")))")
        }
    }

    /// The tests of `suite`, sorted by id: files, listed ids and listed-by-command ids, less
    /// `exclude`, each with its flags, group and timeout.
    public func tests(of suite: Suite) throws(SuiteError) -> [PlannedTest] {
        var entries: [(id: String, path: String?)] = []
        for path in Glob.files(under: suite.root, matching: suite.tests.files) {
            var id = path
            if suite.tests.stripExtension, let dot = path.lastIndex(of: "."), !path[dot...].contains("/") {
                id = String(path[..<dot])
            }
            entries.append((id, path))
        }
        for id in suite.tests.list { entries.append((id, nil)) }
        if let command = suite.tests.command {
            let argv = command.expand(suite.variables)
            let result: (Termination?, String)
            do {
                result = try ProcessControl.capture(argv, environment: environment, directory: suite.root)
            } catch {
                throw SuiteError(at: suite.tests.commandLocation, file: suite.file, key: "tests.command",
                                 "cannot run \(argv.joined(separator: " ")): \(error)")
            }
            guard result.0 == .exited(0) else {
                throw SuiteError(at: suite.tests.commandLocation, file: suite.file, key: "tests.command",
                                 "\(argv.joined(separator: " ")) failed: \(result.1.suffix(300))")
            }
            for line in result.1.split(whereSeparator: \.isNewline) {
                let id = line.trimmingCharacters(in: .whitespaces)
                if !id.isEmpty && !id.hasPrefix("#") { entries.append((id, nil)) }
            }
        }
        let regex = suite.flagsPattern.flatMap { try? NSRegularExpression(pattern: $0, options: [.anchorsMatchLines]) }
        var seen = Set<String>()
        var planned: [PlannedTest] = []
        for entry in entries where seen.insert(entry.id).inserted {
            if suite.tests.exclude.contains(where: { $0.matches(entry.id) || (entry.path.map($0.matches) ?? false) }) { continue }
            let group = suite.group(of: entry.id)
            var flags: [String] = []
            if let regex, let file = entry.path.map({ suite.root + "/" + $0 }) ?? existingFile(suite.root + "/" + entry.id) {
                flags = readFlags(regex, file: file)
            }
            planned.append(PlannedTest(id: entry.id, path: entry.path, flags: flags, group: group.name,
                                       serial: group.serial, timeout: group.timeout ?? suite.timeout))
        }
        return planned.sorted { $0.id < $1.id }
    }

    private func existingFile(_ path: String) -> String? {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue ? path : nil
    }

    /// Capture group 1 of every line of `file` matching `regex`, split at blanks (Node's
    /// `// Flags: --expose-internals --no-warnings`).
    private func readFlags(_ regex: NSRegularExpression, file: String) -> [String] {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return [] }
        var flags: [String] = []
        let range = NSRange(text.startIndex..<text.endIndex, in: text)
        for match in regex.matches(in: text, options: [], range: range) where match.numberOfRanges > 1 {
            guard let captured = Range(match.range(at: 1), in: text) else { continue }
            flags += text[captured].split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        }
        return flags
    }
}
