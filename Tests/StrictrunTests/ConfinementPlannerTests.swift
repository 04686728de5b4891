import Foundation
import StrictrunPolicy
@testable import StrictrunSandbox
import Testing

/// The confinement planner is pure: a profile, a working directory and synthetic host
/// capabilities in, steps and notes out (no namespaces or Landlock probed here).
@Suite("Confinement planner")
struct ConfinementPlannerTests {
    static func profile(_ yaml: String) throws -> Profile {
        let dir = try Fixture.temporaryDirectory()
        let file = dir.appendingPathComponent("p.yaml").path
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        return try ProfileLoader(searchPath: [], syscallExists: { _ in true }).load(path: file)
    }

    static let tree = HostFiles.synthetic(directories: ["/usr/bin", "/etc", "/proc", "/sys", "/dev/shm", "/tmp",
                                                        "/home/u/work", "/srv/data"],
                                          files: ["/dev/null", "/home/u/work/app"], symlinks: ["/bin"])
    static let withNamespaces = HostCapabilities(userNamespaces: .available, landlockABI: 4, uid: 1000, gid: 1000,
                                                 files: tree)
    static let noNamespaces = HostCapabilities(userNamespaces: .unavailable(reason: "Operation not permitted"),
                                               landlockABI: 4, uid: 1000, gid: 1000, files: tree)

    static func plan(_ profile: Profile, _ host: HostCapabilities, fallback: ConfinementFallback = .none,
                     cwd: String = "/home/u/work") -> ConfinementPlan {
        ConfinementPlanner.plan(profile: profile, cwd: cwd, host: host, fallback: fallback)
    }

    @Test("no fs view, stack or ports: nothing planned, nothing probed")
    func nothing() throws {
        let profile = try Self.profile("fs: {chmod: ENOSYS}\n")
        let plan = Self.plan(profile, Self.withNamespaces)
        #expect(plan.steps.isEmpty && plan.notes.isEmpty && plan.view == nil)
        #expect(ConfinementPlanner.probeRequest(profile: profile, fallback: .none) == .nothing)
    }

    @Test("audit mode applies no view, and says so")
    func audit() throws {
        let plan = Self.plan(try Self.profile("mode: audit\nfs: {image: read-only}\n"), Self.withNamespaces)
        #expect(plan.steps.isEmpty)
        #expect(plan.notes == ["audit mode: the fs view, isolated stack and TCP-port rules are not applied"])
    }

    @Test("namespaces: a read-only image with hidden paths, ids mapped as they are")
    func namespaces() throws {
        let profile = try Self.profile("fs: {image: read-only, hide: [/proc, /nonexistent]}\n")
        let request = ConfinementPlanner.probeRequest(profile: profile, fallback: .none)
        #expect(request.namespaceFlags == HostCapabilities.namespaceFlags(network: false))
        let plan = Self.plan(profile, Self.withNamespaces)
        let what = plan.steps.map(\.what)
        #expect(what.first == "unshare user+mount namespaces")
        #expect(what.contains("make the image read-only"))
        #expect(what.contains("hide /proc"))
        #expect(!what.contains("hide /nonexistent"), "a hidden path that does not exist needs no mount")
        #expect(what.last == "re-enter the working directory")
        guard case .writeFile(_, let map) = plan.steps[2].step else { Issue.record("no uid_map"); return }
        #expect(map == "1000 1000 1\n")
        #expect(plan.notes.first == "user+mount namespaces, view host, image read-only, hidden /proc /nonexistent")
        #expect(plan.view?.mechanism == .namespaces)
    }

    @Test("no user namespaces: the Landlock fallback, with a note for each thing it cannot do")
    func landlockFallback() throws {
        let profile = try Self.profile("""
            fs: {hide: [/proc], grants: [{host: /srv/data, path: /data, mode: rw}]}
            net: {stack: isolated}
            """)
        let plan = Self.plan(profile, Self.noNamespaces)
        #expect(plan.notes.contains("no user namespaces here (unshare: Operation not permitted)"))
        #expect(plan.notes.contains { $0.hasPrefix("net: the stack is NOT isolated") })
        #expect(plan.notes.contains("Landlock cannot show /srv/data at /data: granted at its host path"))
        #expect(plan.notes.contains("Landlock ABI 4: fs view (EACCES instead of ENOENT/EROFS)"))
        let what = plan.steps.map(\.what)
        #expect(what.first == "landlock_create_ruleset")
        #expect(what.last == "landlock_restrict_self")
        #expect(!what.contains { $0.hasPrefix("unshare") })
        // /proc hidden: / is covered by its other children (the symlink /bin is not a root).
        #expect(what.contains("landlock rule /usr"))
        #expect(!what.contains("landlock rule /proc"))
        #expect(!what.contains("landlock rule /bin"))
        #expect(what.contains("landlock rule /srv/data"))
        #expect(plan.view?.mechanism == .landlock)
        #expect(plan.view?.isolated == false)
    }

    @Test("the fallback value forces Landlock where namespaces work; no Landlock: a note, no steps")
    func forcedAndMissing() throws {
        let profile = try Self.profile("fs: {image: read-only}\n")
        #expect(ConfinementPlanner.probeRequest(profile: profile, fallback: .landlock).namespaceFlags == nil,
                "nothing forks to probe namespaces that will not be used")
        let forced = Self.plan(profile, Self.withNamespaces, fallback: .landlock)
        #expect(forced.notes.first == "STRICTRUN_FS_FALLBACK=landlock: namespaces not used")
        #expect(forced.view?.mechanism == .landlock)
        var old = Self.noNamespaces
        old.landlockABI = 0
        let none = Self.plan(profile, old)
        #expect(none.steps.isEmpty)
        #expect(none.notes.contains("Landlock ABI 0 here: the fs view not applied"))
        #expect(ConfinementFallback(environment: ["STRICTRUN_FS_FALLBACK": "landlock"]) == .landlock)
        #expect(ConfinementFallback(environment: [:]) == .none)
    }

    @Test("granted-only view: a new root holding only the grants, entered at the granted cwd")
    func grantedOnly() throws {
        let profile = try Self.profile("""
            fs:
              view: granted-only
              grants:
                - {host: /usr}
                - {host: $CWD, path: /work, mode: rw}
                - {host: /missing}
            """)
        let plan = Self.plan(profile, Self.withNamespaces)
        let what = plan.steps.map(\.what)
        #expect(what.contains("clone /usr"))
        #expect(what.contains("clone /home/u/work"))
        #expect(plan.notes.contains("grant /missing: no such host path, skipped"))
        #expect(what.contains("mount the view's tmpfs"))
        #expect(what.contains("mount /home/u/work at /work"))
        #expect(what.contains("make /usr read-only"))
        #expect(!what.contains("make /work read-only"))
        #expect(what.contains("enter the granted view (pivot_root)"))
        guard case .chdir(let seen) = plan.steps.last?.step else { Issue.record("no chdir"); return }
        #expect(seen == "/work")
        #expect(plan.view?.grantedOnly == true)
        #expect(plan.view?.grants.map(\.host) == ["/usr", "/home/u/work", "/missing"])
        // Not granted: the program starts in /.
        let usrOnly = try Self.profile("fs: {view: granted-only, grants: [{host: /usr}]}\n")
        let outside = Self.plan(usrOnly, Self.withNamespaces, cwd: "/etc")
        #expect(outside.notes.contains("the working directory /etc is not granted: the program starts in /"))
    }

    @Test("TCP ports need Landlock ABI 4 even where namespaces build the view")
    func ports() throws {
        let profile = try Self.profile("net: {stack: isolated, tcp-ports: [8080]}\n")
        let plan = Self.plan(profile, Self.withNamespaces)
        let what = plan.steps.map(\.what)
        #expect(what.contains("bring up lo in the new network namespace"))
        #expect(what.contains("landlock TCP port 8080"))
        #expect(plan.notes.contains("Landlock ABI 4: TCP ports 8080"))
        var abi3 = Self.withNamespaces
        abi3.landlockABI = 3
        #expect(Self.plan(profile, abi3).notes.contains("Landlock ABI 3 here: TCP-port rules not applied"))
    }
}
