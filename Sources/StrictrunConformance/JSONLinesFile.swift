import Foundation
import StrictrunResults
import Synchronization

/// An append-only JSON-lines file written by several threads: each value encoded on one line and
/// written whole under a lock, so a reader (or a resume after a kill) sees whole lines in order.
/// `runs.jsonl` of a run and `explore/runs.jsonl` of an explore are both written through one.
final class JSONLinesFile: Sendable {
    /// The file, as error messages name it.
    let path: String
    private let handle: Mutex<FileHandle?>

    init(path: String, handle: FileHandle) {
        self.path = path
        self.handle = Mutex(handle)
    }

    /// Appends `value` as one line; `what` names it in an encoding error.
    func append(_ value: some Encodable, what: String) throws(ConformanceError) {
        var data: Data
        do {
            data = try ResultsCoding.encoder(pretty: false).encode(value)
        } catch {
            throw .output("cannot encode \(what): \(error)")
        }
        data.append(0x0A)
        let failure: String? = handle.withLock { handle in
            guard let handle else { return "closed" }
            do {
                try handle.seekToEnd()
                try handle.write(contentsOf: data)
                return nil
            } catch {
                return error.localizedDescription
            }
        }
        if let failure { throw .output("\(path): \(failure)") }
    }

    /// Closes the file; later appends fail with "closed".
    func close() {
        handle.withLock { handle in
            try? handle?.close()
            handle = nil
        }
    }
}
