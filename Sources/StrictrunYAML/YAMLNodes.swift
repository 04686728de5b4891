import Yams

/// Reading a Yams node tree with errors that name the file, line and key: the shared part of
/// the profile and suite readers.
public struct YAMLNodes: Sendable {
    public let file: String

    public init(file: String) { self.file = file }

    /// The document's root node. The basic resolver: every scalar is read as a string, so
    /// the default resolver's regular expressions (ICU, milliseconds at start-up) are never
    /// compiled. No constructor maps (nodes are read here, never turned into `Any`) and UTF-8
    /// named outright: Yams' defaults build dictionaries of closures and read the whole
    /// environment (`YAMS_DEFAULT_ENCODING`) on every parse, a fifth of a profile's load.
    public func compose(_ text: String, emptyMessage: String) throws(SourceError) -> Node {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text, .basic, Constructor([:], [:], [:]), .utf8)
        } catch let error as YamlError {
            throw yamlError(error)
        } catch {
            throw SourceError(file: file, message: "cannot read YAML: \(error)")
        }
        guard let root else { throw SourceError(file: file, line: 1, message: emptyMessage) }
        return root
    }

    public func string(_ node: Node, key: String) throws(SourceError) -> String {
        guard case .scalar(let scalar) = node else { throw typeError(node, key: key, expected: "a string") }
        return scalar.string
    }

    public func mapping(_ node: Node, key: String?) throws(SourceError) -> [(Node, Node)] {
        guard case .mapping(let map) = node else {
            throw typeError(node, key: key, expected: "a mapping of keys to values")
        }
        return map.map { ($0.key, $0.value) }
    }

    public func keyName(_ node: Node, parent: String?) throws(SourceError) -> String {
        guard case .scalar(let scalar) = node else {
            throw SourceError(at: location(node), file: file, key: parent, "keys must be plain words")
        }
        return scalar.string
    }

    public func location(_ node: Node) -> SourceLocation? {
        node.mark.map { SourceLocation(file: file, line: $0.line, column: $0.column) }
    }

    public func typeError(_ node: Node, key: String?, expected: String) -> SourceError {
        let found = switch node {
        case .scalar: "a scalar"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
        return SourceError(at: location(node), file: file, key: key, "expected \(expected), found \(found)")
    }

    public func unknownKey(_ node: Node, key: String, known: [String]) -> SourceError {
        SourceError(at: location(node), file: file, key: key,
                    "unknown key (known here: \(known.joined(separator: ", ")))")
    }

    public func yamlError(_ error: YamlError) -> SourceError {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
             .composer(_, let problem, let mark, _):
            return SourceError(file: file, line: mark.line, column: mark.column, message: "YAML: \(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            return SourceError(file: file, line: context.mark.line, column: context.mark.column,
                               key: duplicates.first, message: "duplicated key")
        default:
            return SourceError(file: file, message: "YAML: \(error)")
        }
    }
}
