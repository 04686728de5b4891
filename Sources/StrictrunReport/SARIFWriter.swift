import Foundation
import StrictrunResults

/// The porting plan as SARIF 2.1.0 (OASIS): one result per site, located at the site's owning
/// frame (first frame outside libc) and carrying its whole stack as a code flow, so GitHub code
/// scanning and IDEs show the plan on the runtime's own source. Rules are the profile's rules.
public enum SARIFWriter {
    public static let version = "2.1.0"
    public static let schemaURI = "https://json.schemastore.org/sarif-2.1.0.json"

    struct Log: Encodable {
        var schema = SARIFWriter.schemaURI
        var version = SARIFWriter.version
        var runs: [Run]
        enum CodingKeys: String, CodingKey {
            case schema = "$schema"
            case version, runs
        }
    }
    struct Run: Encodable {
        var tool: Tool
        var results: [Result]
        var properties: [String: String]
    }
    struct Tool: Encodable { var driver: Driver }
    struct Driver: Encodable {
        var name = "strictrun"
        var version: String
        var informationUri = "https://github.com/strictrun/strictrun"
        var rules: [Rule]
    }
    struct Message: Encodable { var text: String }
    struct Rule: Encodable {
        var id: String
        var name: String
        var shortDescription: Message
        var help: Message
    }
    struct Result: Encodable {
        var ruleId: String
        var ruleIndex: Int
        var level: String
        var message: Message
        var locations: [Location]
        var codeFlows: [CodeFlow]
        var partialFingerprints: [String: String]
        var properties: Properties
    }
    struct Properties: Encodable {
        var site: String
        var syscall: String
        var component: String
        var answer: String
        var testsRegained: Int
        var tests: [String]
    }
    struct Location: Encodable {
        var physicalLocation: PhysicalLocation?
        var logicalLocations: [LogicalLocation]?
        var message: Message?
    }
    struct PhysicalLocation: Encodable {
        var artifactLocation: ArtifactLocation
        var region: Region?
    }
    struct ArtifactLocation: Encodable { var uri: String }
    struct Region: Encodable { var startLine: Int }
    struct LogicalLocation: Encodable {
        var name: String
        var fullyQualifiedName: String
        var kind = "function"
    }
    struct CodeFlow: Encodable {
        var message: Message
        var threadFlows: [ThreadFlow]
    }
    struct ThreadFlow: Encodable { var locations: [ThreadFlowLocation] }
    struct ThreadFlowLocation: Encodable {
        var location: Location
        var nestingLevel: Int
    }

    /// A frame's source file as a URI reference: `file:///abs/path`, or the relative path.
    static func uri(_ file: String) -> String {
        let escaped = file.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? file
        if file.hasPrefix("/") { return "file://" + escaped }
        return escaped.hasPrefix("./") ? String(escaped.dropFirst(2)) : escaped
    }

    static func location(_ frame: Frame, message: String?) -> Location {
        let name = frame.symbol.map(Component.shortName) ?? Component.brief(frame)
        var location = Location(logicalLocations: [LogicalLocation(name: name, fullyQualifiedName: frame.symbol ?? name)],
                                message: message.map(Message.init))
        if let file = frame.file {
            location.physicalLocation = PhysicalLocation(artifactLocation: ArtifactLocation(uri: uri(file)),
                                                         region: frame.line.flatMap { $0 > 0 ? Region(startLine: $0) : nil })
        }
        return location
    }

    /// The SARIF log of `explore`'s plan, pretty-printed JSON.
    public static func sarif(_ explore: ExploreResults, strictrunVersion: String) throws -> Data {
        var ruleIDs: [String] = []
        for entry in explore.plan where !ruleIDs.contains(entry.rule) { ruleIDs.append(entry.rule) }
        let rules = ruleIDs.map { id in
            Rule(id: id, name: id.replacingOccurrences(of: "/", with: "-"),
                 shortDescription: Message(text: "A call the \(explore.profile) target blocks (\(id))"),
                 help: Message(text: "strictrun conformance explore found the answer this call site needs on the "
                               + "\(explore.profile) target for the tests it breaks to pass."))
        }
        let results = explore.plan.map { entry -> Result in
            let owner = Component.owner(of: entry.frames)
            let text = "\(entry.syscall) at \(entry.function) (\(entry.component)) is blocked by \(entry.rule) on "
                + "\(explore.profile): answering \(entry.answer) here gives back \(entry.tests.count) "
                + "test\(entry.tests.count == 1 ? "" : "s") (\(entry.tests.prefix(5).joined(separator: ", "))"
                + "\(entry.tests.count > 5 ? ", …" : ""))"
            let flow = entry.frames.reversed().enumerated().map { depth, frame in
                ThreadFlowLocation(location: location(frame, message: Component.brief(frame)), nestingLevel: depth)
            }
            let main = owner.map { location($0, message: nil) }
                ?? Location(logicalLocations: [LogicalLocation(name: entry.function, fullyQualifiedName: entry.function)])
            return Result(ruleId: entry.rule, ruleIndex: ruleIDs.firstIndex(of: entry.rule) ?? 0, level: "warning",
                          message: Message(text: text), locations: [main],
                          codeFlows: flow.isEmpty ? [] : [CodeFlow(message: Message(text: "stack at the blocked call (outermost first)"),
                                                                   threadFlows: [ThreadFlow(locations: flow)])],
                          partialFingerprints: ["strictrunSite/v1": entry.site],
                          properties: Properties(site: entry.site, syscall: entry.syscall, component: entry.component,
                                                 answer: entry.answer, testsRegained: entry.tests.count, tests: entry.tests))
        }
        let log = Log(runs: [Run(tool: Tool(driver: Driver(version: strictrunVersion, rules: rules)), results: results,
                                 properties: ["profile": explore.profile, "suite": explore.suite])])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(log)
    }
}
