#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Yams

// The `tls` section: TCP streams mediated by the key-holding broker, private keys kept out of the app.

/// The `tls` section: connect() of a TCP stream (every one, or those to a TLS port) is routed to
/// the key-holding broker (or denied, logged, allowed), and the program's reads of private-key
/// files get the `keys` action. Absent from a profile, connect() is never traced.
public struct TLSPolicy: Sendable, Hashable {
    /// Which connections are handed to the broker.
    public enum Mediation: String, Sendable, Hashable, CaseIterable {
        /// Every TCP stream: the broker tells TLS from anything else by the first bytes the program sends.
        case all
        /// Connections to `ports` only (cheaper: other connects are never routed).
        case ports
    }

    /// Which connections are handed to the broker (or get `action`).
    public var mediate: Mediation
    /// The ports whose connections are TLS (used when `mediate` is `ports`).
    public var ports: [UInt16]
    /// `route`, `deny` (an errno), `log` or `allow`.
    public var action: RuleSetting
    /// Terminate the app's TLS in the broker, or relay bytes (for apps that pin certificates).
    public var relay: Bool
    /// A CA bundle for verifying upstream servers; nil: the system's trust store.
    public var trustBundle: String?
    /// CA certificates (PEM files) trusted upstream in addition to `trustBundle`: the trusted
    /// component's store, not the app's.
    public var extraTrust: [String]
    /// What the program's open of a file holding private-key material gets (PEM `PRIVATE KEY`
    /// blocks, PKCS#8/PKCS#1/SEC1 DER); nil: not checked.
    public var keys: RuleSetting?
    /// Client certificates the broker presents upstream; the program may not open their keys.
    public var clientCertificates: [ClientCertificate]
    /// Added latency per TLS record toward the app, in milliseconds (crypto as IPC).
    public var latencyPerRecordMs: Double

    public static let defaultPorts: [UInt16] = [443, 465, 636, 853, 993, 995, 8443]

    public init(mediate: Mediation = .ports, ports: [UInt16] = Self.defaultPorts, action: RuleSetting,
                relay: Bool = false, trustBundle: String? = nil, extraTrust: [String] = [], keys: RuleSetting? = nil,
                clientCertificates: [ClientCertificate] = [], latencyPerRecordMs: Double = 0) {
        self.mediate = mediate
        self.ports = ports
        self.action = action
        self.relay = relay
        self.trustBundle = trustBundle
        self.extraTrust = extraTrust
        self.keys = keys
        self.clientCertificates = clientCertificates
        self.latencyPerRecordMs = latencyPerRecordMs
    }
}

/// One client certificate of the `tls` section: for hosts matching `host` (a glob such as
/// `*.corp.example`), the broker presents `certificate` signed with `key`.
public struct ClientCertificate: Sendable, Hashable {
    public var host: String
    public var certificate: String
    public var key: String
    public var location: SourceLocation?
}

extension ProfileDefaults {
    /// What a denied connect() to a TLS port answers.
    public static let tlsErrno = ECONNREFUSED
}

/// The `tls` section as written (values optional, merged over an extended profile's).
struct TLSDocument: Sendable {
    var mediate: TLSPolicy.Mediation?
    var ports: [UInt16]?
    var action: RuleSetting?
    var relay: Bool?
    /// `.some(nil)`: `trust: system` written explicitly.
    var trustBundle: String??
    var extraTrust: [String]?
    /// `.some(nil)`: `keys: allow` (not checked).
    var keys: RuleSetting??
    var latencyPerRecordMs: Double?
    var clientCertificates: [ClientCertificate]?

    func merged(over base: TLSDocument?) -> TLSDocument {
        guard let base else { return self }
        return TLSDocument(mediate: mediate ?? base.mediate, ports: ports ?? base.ports, action: action ?? base.action,
                           relay: relay ?? base.relay, trustBundle: trustBundle ?? base.trustBundle,
                           extraTrust: extraTrust ?? base.extraTrust, keys: keys ?? base.keys,
                           latencyPerRecordMs: latencyPerRecordMs ?? base.latencyPerRecordMs,
                           clientCertificates: clientCertificates ?? base.clientCertificates)
    }

    /// Defaults: the usual TLS ports, routed, terminated in the broker, system trust, key
    /// files not checked.
    func resolved() -> TLSPolicy {
        TLSPolicy(mediate: mediate ?? .ports, ports: ports ?? TLSPolicy.defaultPorts, action: action ?? RuleSetting(.route),
                  relay: relay ?? false, trustBundle: trustBundle ?? nil, extraTrust: extraTrust ?? [],
                  keys: keys ?? nil,
                  clientCertificates: clientCertificates ?? [], latencyPerRecordMs: latencyPerRecordMs ?? 0)
    }
}

extension ProfileDocumentReader {
    static let tlsKeys = ["mediate", "ports", "action", "mode", "trust", "trust-extra", "keys", "latency-per-record",
                          "client-certificates"]

    func readTLS(_ node: Node) throws(ProfileError) -> TLSDocument {
        var tls = TLSDocument()
        for (keyNode, value) in try nodes.mapping(node, key: "tls") {
            let key = try nodes.keyName(keyNode, parent: "tls")
            let path = "tls.\(key)"
            switch key {
            case "mediate":
                tls.mediate = try enumValue(value, key: path, TLSPolicy.Mediation.self)
            case "trust-extra":
                guard case .sequence(let items) = value else { throw nodes.typeError(value, key: path, expected: "a list of PEM files") }
                tls.extraTrust = try items.enumerated().map { (index, item) throws(ProfileError) -> String in
                    let file = relativeToProfile(try nodes.string(item, key: "\(path)[\(index)]"))
                    guard FileManager.default.isReadableFile(atPath: file) else {
                        throw ProfileError(at: nodes.location(item), file: self.file, key: "\(path)[\(index)]",
                                           "cannot read '\(file)'")
                    }
                    return file
                }
            case "keys":
                let setting = try setting(value, key: path, defaultErrno: EACCES)
                tls.keys = setting.action == .allow ? .some(nil) : .some(setting)
            case "ports":
                guard case .sequence(let items) = value else { throw nodes.typeError(value, key: path, expected: "a list of ports") }
                tls.ports = try items.enumerated().map { (index, item) throws(ProfileError) -> UInt16 in
                    let text = try nodes.string(item, key: "\(path)[\(index)]")
                    guard let port = UInt16(text), port > 0 else {
                        throw ProfileError(at: nodes.location(item), file: file, key: "\(path)[\(index)]",
                                           "not a TCP port: '\(text)'")
                    }
                    return port
                }
            case "action":
                tls.action = try setting(value, key: path, defaultErrno: ProfileDefaults.tlsErrno, allowRoute: true)
            case "mode":
                let word = try nodes.string(value, key: path)
                guard word == "terminate" || word == "relay" else {
                    throw ProfileError(at: nodes.location(value), file: file, key: path,
                                       "unknown value '\(word)' (expected terminate or relay)")
                }
                tls.relay = word == "relay"
            case "trust":
                let word = try nodes.string(value, key: path)
                tls.trustBundle = word == "system" ? .some(nil) : .some(word)
            case "latency-per-record":
                let text = try nodes.string(value, key: path)
                let number = text.hasSuffix("ms") ? String(text.dropLast(2)) : text
                guard let ms = Double(number.trimmingCharacters(in: .whitespaces)), ms >= 0 else {
                    throw ProfileError(at: nodes.location(value), file: file, key: path,
                                       "expected milliseconds, e.g. 2ms: '\(text)'")
                }
                tls.latencyPerRecordMs = ms
            case "client-certificates":
                tls.clientCertificates = try readClientCertificates(value, key: path)
            default:
                throw nodes.unknownKey(keyNode, key: path, known: Self.tlsKeys)
            }
        }
        return tls
    }

    /// A path as written in the profile: relative ones are relative to the profile file.
    private func relativeToProfile(_ path: String) -> String {
        path.hasPrefix("/") ? path : ((file as NSString).deletingLastPathComponent as NSString).appendingPathComponent(path)
    }

    private func readClientCertificates(_ node: Node, key: String) throws(ProfileError) -> [ClientCertificate] {
        guard case .sequence(let items) = node else { throw nodes.typeError(node, key: key, expected: "a list") }
        var out: [ClientCertificate] = []
        for (index, item) in items.enumerated() {
            let base = "\(key)[\(index)]"
            var fields: [String: String] = [:]
            for (keyNode, value) in try nodes.mapping(item, key: base) {
                let name = try nodes.keyName(keyNode, parent: base)
                guard ["host", "certificate", "key"].contains(name) else {
                    throw nodes.unknownKey(keyNode, key: "\(base).\(name)", known: ["host", "certificate", "key"])
                }
                fields[name] = try nodes.string(value, key: "\(base).\(name)")
            }
            for required in ["host", "certificate", "key"] where fields[required] == nil {
                throw ProfileError(at: nodes.location(item), file: file, key: "\(base).\(required)", "missing")
            }
            out.append(ClientCertificate(host: fields["host"]!, certificate: relativeToProfile(fields["certificate"]!),
                                         key: relativeToProfile(fields["key"]!), location: nodes.location(item)))
        }
        return out
    }
}
