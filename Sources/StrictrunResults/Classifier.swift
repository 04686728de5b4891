/// Turns the runs of a result set into per-test verdicts and the totals of the summary table.
/// Pure: `results.json` is a function of the header and the records of `runs.jsonl`.
public enum Classifier {
    /// Build the results of `records` (any order) for the tests `header` planned.
    public static func results(header: RunHeader, records: [RunRecord], finished: String, complete: Bool,
                               interrupted: Bool, wall: WallTimes, mergedFrom: [String]? = nil) -> ConformanceResults {
        var byTest: [String: [RunRecord]] = [:]
        for record in records { byTest[record.test, default: []].append(record) }
        let tests = header.tests.map { planned in
            classify(planned, records: byTest[planned.id] ?? [], retries: header.retries)
        }
        var results = ConformanceResults(
            schema: conformanceSchema, suite: header.suite, profile: header.profile,
            profileReference: header.profileReference, profileSHA256: header.profileSHA256,
            strictrun: header.strictrun, runtimeVersion: header.runtimeVersion, started: header.started,
            finished: finished, complete: complete, interrupted: interrupted, jobs: header.jobs,
            retries: header.retries, shard: header.shard, mergedFrom: mergedFrom, environment: header.environment,
            wallSeconds: wall, totals: totals(tests), tests: tests)
        results.tlsAdaptation = tlsAdaptation(tests)
        return results
    }

    /// The TLS of each test's first constrained run (the trace the attribution and the report
    /// read), added up; nil when no test did anything TLS.
    public static func tlsAdaptation(_ tests: [TestResult]) -> TLSAdaptation? {
        var builder = TLSAdaptationBuilder()
        for test in tests {
            guard let digest = test.profile?.attempts.first?.digest else { continue }
            builder.add(run: test.id, digest: digest.tls)
        }
        return builder.build()
    }

    /// A mode's runs, ordered, or nil when it has none.
    public static func modeResult(_ records: [RunRecord]) -> ModeResult? {
        let attempts = records.sorted { $0.attempt < $1.attempt }
        guard let last = attempts.last else { return nil }
        return ModeResult(outcome: last.outcome, flaky: !last.outcome.isFailure && attempts.count > 1, attempts: attempts)
    }

    /// Whether a mode needs no more runs: it passed (or skipped), or failed on every run `retries` allows.
    public static func settled(_ mode: ModeResult?, retries: Int) -> Bool {
        guard let mode else { return false }
        return !mode.outcome.isFailure || mode.attempts.count >= 1 + retries
    }

    static func classify(_ planned: PlannedTest, records: [RunRecord], retries: Int) -> TestResult {
        let native = modeResult(records.filter { $0.mode == .native })
        let profile = modeResult(records.filter { $0.mode == .profile })
        var result = TestResult(id: planned.id, path: planned.path, group: planned.group, serial: planned.serial,
                                flags: planned.flags, status: .incomplete, native: native, profile: profile,
                                attribution: nil)
        guard let native, settled(native, retries: retries) else { return result }
        if native.outcome == .skip {
            result.status = .skipped
            return result
        }
        if !native.passed {
            result.status = .baselineFail
            return result
        }
        guard let profile, settled(profile, retries: retries) else { return result }
        if native.flaky || profile.flaky {
            result.status = .flaky
        } else if profile.passed {
            result.status = .pass
        } else {
            result.status = .newFailure
            result.attribution = attribution(profile.attempts.first?.digest)
        }
        return result
    }

    /// The categories of a failing run's blocked calls; `unattributed` when it has none.
    public static func attribution(_ digest: TraceDigest?) -> Attribution {
        guard let digest, let first = digest.first else {
            return Attribution(primary: Attribution.unattributed, categories: digest?.categories ?? [], first: nil)
        }
        return Attribution(primary: first.category, categories: digest.categories, first: first)
    }

    public static func totals(_ tests: [TestResult]) -> Totals {
        func count(_ status: TestStatus) -> Int { tests.filter { $0.status == status }.count }
        let failures = tests.filter { $0.status == .newFailure }
        var primary: [String: Int] = [:]
        var any: [String: Int] = [:]
        for test in failures {
            guard let attribution = test.attribution else { continue }
            primary[attribution.primary, default: 0] += 1
            let categories = attribution.categories.isEmpty ? [Attribution.unattributed] : attribution.categories.map(\.category)
            for category in Set(categories) { any[category, default: 0] += 1 }
        }
        func ordered(_ counts: [String: Int]) -> [CategoryCount] {
            counts.map { CategoryCount(category: $0.key, tests: $0.value) }.sorted {
                // unattributed last; otherwise most tests first.
                if ($0.category == Attribution.unattributed) != ($1.category == Attribution.unattributed) {
                    return $1.category == Attribution.unattributed
                }
                return $0.tests != $1.tests ? $0.tests > $1.tests : $0.category < $1.category
            }
        }
        return Totals(
            tests: tests.count, pass: count(.pass), newFailure: failures.count, baselineFail: count(.baselineFail),
            flaky: count(.flaky), skipped: count(.skipped), incomplete: count(.incomplete),
            nativePass: tests.filter { $0.native?.passed == true }.count,
            newFailuresByPrimary: ordered(primary), newFailuresByCategory: ordered(any),
            newFailureTimeouts: failures.filter { $0.profile?.attempts.first?.outcome == .timeout }.count,
            newFailureCrashes: failures.filter { $0.profile?.attempts.first?.outcome == .crash }.count)
    }
}
