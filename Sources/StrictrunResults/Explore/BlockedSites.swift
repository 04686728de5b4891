import Foundation
import StrictrunTrace

extension BlockedSite {
    /// The call sites a trace blocked, in order of first occurrence, each with its first full
    /// stack; blocked calls without a site (stacks off) are left out. Streams the trace.
    public static func read(trace path: String) throws -> [BlockedSite] {
        var sites: [BlockedSite] = []
        var index: [String: Int] = [:]
        _ = try TraceReader.forEachEvent(path: path) { _, line in
            guard case .policy(let event) = line, event.blocks, let site = event.stack.site else { return }
            if let known = index[site] {
                sites[known].count += 1
                if sites[known].frames.isEmpty, let frames = event.stack.frames {
                    sites[known].frames = TraceDigest.frames(frames, limit: 32)
                }
                return
            }
            index[site] = sites.count
            sites.append(BlockedSite(site: site, rule: "\(event.category)/\(event.rule)", category: event.category,
                                     syscall: event.syscall, action: event.audited ?? event.action.rawValue
                                         + (event.errno.map { "(\($0))" } ?? ""),
                                     errno: event.errno, count: 1,
                                     frames: TraceDigest.frames(event.stack.frames ?? [], limit: 32)))
        }
        return sites
    }

    /// How many calls of an explore run's trace had an answer applied, how many could not, and
    /// the blocked sites it shows that no answer covered (in order of first occurrence).
    public static func answerCounts(trace path: String) -> (answered: Int, unavailable: Int, unanswered: [BlockedSite]) {
        var answered = 0, unavailable = 0
        var answeredSites = Set<String>()
        _ = try? TraceReader.forEachEvent(path: path) { _, line in
            guard case .policy(let event) = line else { return }
            if event.extra.contains(where: { $0.0 == "answer" }) {
                answered += 1
                if let site = event.stack.site { answeredSites.insert(site) }
            }
            if event.extra.contains(where: { $0.0 == "answer_unavailable" }) { unavailable += 1 }
        }
        let blocked = (try? read(trace: path)) ?? []
        return (answered, unavailable, blocked.filter { !answeredSites.contains($0.site) })
    }
}
