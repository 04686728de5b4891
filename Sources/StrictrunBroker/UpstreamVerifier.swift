import Foundation
import SwiftASN1
import Synchronization
import X509

/// Certificates the broker trusts for upstream servers, indexed by subject.
struct TrustStore: Sendable {
    let store: CertificateStore
    private let bySubject: [DistinguishedName: [Certificate]]
    let count: Int

    init(_ certificates: [Certificate]) {
        store = CertificateStore(certificates)
        bySubject = Dictionary(grouping: certificates, by: \.subject)
        count = certificates.count
    }

    /// The certificates of several PEM bundles together (the trust store and the profile's extra CAs).
    static func load(paths: [String]) throws -> TrustStore {
        TrustStore(try paths.flatMap { try certificates(path: $0) })
    }

    /// Reads every `CERTIFICATE` block of a PEM bundle; blocks swift-certificates cannot parse are skipped.
    static func load(path: String) throws -> TrustStore {
        TrustStore(try certificates(path: path))
    }

    private static func certificates(path: String) throws -> [Certificate] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw BrokerError.cannotReadTrustRoots(path: path, reason: String(describing: error))
        }
        let documents: [PEMDocument]
        do {
            documents = try PEMDocument.parseMultiple(pemString: text)
        } catch {
            throw BrokerError.cannotReadTrustRoots(path: path, reason: "not a PEM bundle: \(error)")
        }
        let certificates = documents.filter { $0.discriminator == "CERTIFICATE" }
            .compactMap { try? Certificate(derEncoded: $0.derBytes) }
        guard !certificates.isEmpty else { throw BrokerError.noUsableTrustRoots(path: path) }
        return certificates
    }

    /// Whether this exact certificate, or one with its subject and key, is a trust root.
    func contains(_ certificate: Certificate) -> Bool {
        bySubject[certificate.subject]?.contains { $0.publicKey == certificate.publicKey } ?? false
    }

    /// A trust root that names itself the issuer of `certificate` and whose key verifies its signature.
    func issuer(of certificate: Certificate) -> Certificate? {
        bySubject[certificate.issuer]?.first { $0.publicKey.isValidSignature(certificate.signature, for: certificate) }
    }
}

/// A `TrustStore` parsed at its first use: the broker's start (which the first routed connect waits for) only
/// checks that the bundles can be read; the warm-up right after it parses them, or else the first verification.
/// A bundle that turns out unusable then fails every verification with the reason.
final class TrustSource: Sendable {
    private let paths: [String]
    private let loaded: Mutex<Result<TrustStore, BrokerError>?>

    /// The certificates of the PEM bundles at `paths`, parsed on first use; throws now when one cannot be read.
    init(paths: [String]) throws(BrokerError) {
        for path in paths where access(path, R_OK) != 0 {
            throw BrokerError.cannotReadTrustRoots(path: path, reason: String(cString: strerror(errno)))
        }
        self.paths = paths
        loaded = Mutex(nil)
    }

    /// A store there already is.
    init(_ store: TrustStore) {
        paths = []
        loaded = Mutex(.success(store))
    }

    func store() throws(BrokerError) -> TrustStore {
        try loaded.withLock { loaded throws(BrokerError) -> TrustStore in
            if let loaded { return try loaded.get() }
            let outcome = Result { () throws(BrokerError) -> TrustStore in
                do {
                    return try TrustStore.load(paths: paths)
                } catch let error as BrokerError {
                    throw error
                } catch {
                    throw BrokerError.cannotReadTrustRoots(path: paths.joined(separator: ", "), reason: "\(error)")
                }
            }
            loaded = outcome
            return try outcome.get()
        }
    }
}

/// Why an upstream chain was rejected, in OpenSSL's words (so a reader recognises `curl`'s and Python's messages),
/// with the TLS alert OpenSSL's `ssl_verify_alarm_type` sends for it.
struct VerificationFailure: Sendable, Hashable {
    enum Kind: Sendable, Hashable {
        case malformed, unknownIssuer, selfSigned, selfSignedInChain, badSignature, expired, notYetValid, invalidCA,
             purpose, nameMismatch, other
    }

    var kind: Kind
    var reason: String
    var alert: TLSAlert
    /// The chain as the server sent it, leaf first (empty when it could not be parsed).
    var presented: [Certificate]
}

enum VerificationOutcome: Sendable {
    case verified
    case failed(VerificationFailure)
}

/// Verifies a server chain with swift-certificates: RFC 5280 path validation to a trust root, a TLS-server purpose
/// check and RFC 6125 name matching. On failure it diagnoses the first problem in the order OpenSSL reports them
/// (issuer lookup, signatures, validity dates, CA flags, purpose, then the name).
struct ChainVerifier: Sendable {
    let source: TrustSource

    func verify(der chain: [[UInt8]], hostname: String?, ip: String?) async -> VerificationOutcome {
        let presented: [Certificate]
        do {
            presented = try chain.map { try Certificate(derEncoded: $0) }
        } catch {
            return .failed(.init(kind: .malformed, reason: "unable to decode the server certificate (\(error))",
                                 alert: .badCertificate, presented: []))
        }
        return await verify(presented, hostname: hostname, ip: ip)
    }

    func verify(_ presented: [Certificate], hostname: String?, ip: String?) async -> VerificationOutcome {
        guard let leaf = presented.first else {
            return .failed(.init(kind: .malformed, reason: "the server sent no certificate", alert: .handshakeFailure,
                                 presented: []))
        }
        let trust: TrustStore
        do {
            trust = try source.store()
        } catch {
            return .failed(.init(kind: .other, reason: "the trusted component's store could not be loaded: \(error)",
                                 alert: .internalError, presented: presented))
        }
        let intermediates = CertificateStore(presented.dropFirst())
        var full = Verifier(rootCertificates: trust.store) {
            RFC5280Policy()
            TLSServerPurposePolicy()
            ServerIdentityPolicy(serverHostname: hostname, serverIP: hostname == nil ? ip : nil)
        }
        if case .validCertificate = await full.validate(leaf: leaf, intermediates: intermediates) {
            return .verified
        }
        return .failed(await diagnose(presented, trust: trust, hostname: hostname, ip: ip))
    }

    private func diagnose(_ presented: [Certificate], trust: TrustStore, hostname: String?, ip: String?) async -> VerificationFailure {
        let leaf = presented[0]
        let intermediates = CertificateStore(presented.dropFirst())
        func failure(_ kind: VerificationFailure.Kind, _ reason: String, _ alert: TLSAlert) -> VerificationFailure {
            VerificationFailure(kind: kind, reason: reason, alert: alert, presented: presented)
        }

        // 1. Is there any signature-valid path to a trust root?
        var chainOnly = Verifier(rootCertificates: trust.store) { AnyChainPolicy() }
        guard case .validCertificate(let validated) = await chainOnly.validate(leaf: leaf, intermediates: intermediates)
        else {
            if presented.count == 1, isSelfSigned(leaf) {
                return failure(.selfSigned, "self-signed certificate (\(leaf.subject))", .unknownCA)
            }
            for index in presented.indices.dropLast() where presented[index].issuer == presented[index + 1].subject {
                let issuer = presented[index + 1]
                if !issuer.publicKey.isValidSignature(presented[index].signature, for: presented[index]) {
                    return failure(.badSignature,
                                   "certificate signature failure (\(presented[index].subject) is not signed by \(issuer.subject))",
                                   .decryptError)
                }
            }
            if let top = presented.last, presented.count > 1, isSelfSigned(top) {
                return failure(.selfSignedInChain, "self-signed certificate in certificate chain (\(top.subject))",
                               .unknownCA)
            }
            let top = presented.last!
            return failure(.unknownIssuer, "unable to get local issuer certificate (unknown CA: issuer '\(top.issuer)')",
                           .unknownCA)
        }
        let chain = Array(validated)

        // 2. Validity dates, from the root down as OpenSSL checks them.
        let now = Date()
        for certificate in chain.reversed() {
            if now > certificate.notValidAfter {
                return failure(.expired,
                               "certificate has expired (\(certificate.subject), notAfter \(iso(certificate.notValidAfter)))",
                               .certificateExpired)
            }
            if now < certificate.notValidBefore {
                return failure(.notYetValid,
                               "certificate is not yet valid (\(certificate.subject), notBefore \(iso(certificate.notValidBefore)))",
                               .badCertificate)
            }
        }

        // 3. RFC 5280 path rules (CA flags, path length, name constraints).
        var rfc5280 = Verifier(rootCertificates: trust.store) { RFC5280Policy() }
        if case .couldNotValidate(let failures) = await rfc5280.validate(leaf: leaf, intermediates: intermediates) {
            let detail = failures.first.map { String(describing: $0.policyFailureReason) }?
                .replacingOccurrences(of: "RFC5280Policy: ", with: "") ?? "no valid path"
            return failure(.invalidCA, "invalid CA certificate (\(detail))", .unknownCA)
        }

        // 4. Purpose: a leaf restricted by extendedKeyUsage must allow serverAuth.
        let purpose = TLSServerPurposePolicy()
        if case .failsToMeetPolicy(let reason) = purpose.check(leaf) {
            return failure(.purpose, "unsupported certificate purpose (\(reason))", .unsupportedCertificate)
        }

        // 5. The name.
        var identity = Verifier(rootCertificates: CertificateStore([leaf])) {
            ServerIdentityPolicy(serverHostname: hostname, serverIP: hostname == nil ? ip : nil)
        }
        if case .couldNotValidate = await identity.validate(leaf: leaf, intermediates: CertificateStore()) {
            let names = Self.names(of: leaf)
            let certFor = names.isEmpty ? "no names" : names.joined(separator: ", ")
            if let hostname {
                return failure(.nameMismatch, "hostname mismatch: cert for \(certFor), wanted \(hostname)", .badCertificate)
            }
            return failure(.nameMismatch, "IP address mismatch: cert for \(certFor), wanted \(ip ?? "?")", .badCertificate)
        }
        return failure(.other, "certificate verify failed", .badCertificate)
    }

    private func isSelfSigned(_ certificate: Certificate) -> Bool {
        certificate.issuer == certificate.subject
            && certificate.publicKey.isValidSignature(certificate.signature, for: certificate)
    }

    private func iso(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }

    /// DNS and IP subject alternative names, else the common name.
    static func names(of certificate: Certificate) -> [String] {
        var names: [String] = []
        if let sans = try? certificate.extensions.subjectAlternativeNames {
            for name in sans {
                switch name {
                case .dnsName(let dns): names.append(dns)
                case .ipAddress(let octets): names.append(Self.ipText(Array(octets.bytes)))
                default: break
                }
            }
        }
        if names.isEmpty {
            for rdn in certificate.subject {
                for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                    names.append(String(describing: attribute.value))
                }
            }
        }
        return names
    }

    static func ipText(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        if bytes.count == 16 {
            let groups = stride(from: 0, to: 16, by: 2).map { String(Int(bytes[$0]) << 8 | Int(bytes[$0 + 1]), radix: 16) }
            return SocketAddressKey.canonicalIP(groups.joined(separator: ":"))
        }
        return bytes.map { String($0, radix: 16) }.joined(separator: ":")
    }
}

/// Accepts any chain; declares the usual critical extensions handled so that path building alone can be tested.
struct AnyChainPolicy: VerifierPolicy {
    let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = [
        .X509ExtensionID.basicConstraints, .X509ExtensionID.keyUsage, .X509ExtensionID.extendedKeyUsage,
        .X509ExtensionID.subjectAlternativeName, .X509ExtensionID.nameConstraints,
    ]

    mutating func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) async -> PolicyEvaluationResult {
        .meetsPolicy
    }
}

/// OpenSSL's `X509_PURPOSE_SSL_SERVER` in its essential part: when the leaf carries extendedKeyUsage, it must list
/// serverAuth (or anyExtendedKeyUsage). Handles a critical extendedKeyUsage, which RFC5280Policy does not.
struct TLSServerPurposePolicy: VerifierPolicy {
    let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = [.X509ExtensionID.extendedKeyUsage]

    mutating func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) async -> PolicyEvaluationResult {
        check(chain.leaf)
    }

    func check(_ leaf: Certificate) -> PolicyEvaluationResult {
        guard let usage = try? leaf.extensions.extendedKeyUsage else {
            return leaf.extensions[oid: .X509ExtensionID.extendedKeyUsage] == nil
                ? .meetsPolicy : .failsToMeetPolicy(reason: "unreadable extendedKeyUsage")
        }
        if usage.contains(.serverAuth) || usage.contains(.any) { return .meetsPolicy }
        return .failsToMeetPolicy(reason: "extendedKeyUsage of \(leaf.subject) does not allow serverAuth")
    }
}
