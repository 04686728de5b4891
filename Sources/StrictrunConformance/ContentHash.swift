import Crypto
import Foundation

/// SHA-256 digests of the files a result set depends on (suite, profile, durations table), as
/// lower-case hex: the merge and `--resume` compare them to prove two runs ran the same thing.
public enum ContentHash {
    /// SHA-256 of `data`.
    public static func sha256(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    /// SHA-256 of `text` as UTF-8.
    public static func sha256(_ text: String) -> String { sha256(Data(text.utf8)) }

    /// SHA-256 of one file; with several (a profile and what it `extends`), SHA-256 of the
    /// files' own digests, one per line, in order. Nil when a file cannot be read.
    public static func sha256(files: [String]) -> String? {
        var digests: [String] = []
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { return nil }
            digests.append(sha256(data))
        }
        guard !digests.isEmpty else { return nil }
        return digests.count == 1 ? digests[0] : sha256(digests.joined(separator: "\n") + "\n")
    }
}
