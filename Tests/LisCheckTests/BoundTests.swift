import LisCheck
import Synchronization
import Testing

/// A bound never yields a wrong verdict: when the search is cut short the answer is
/// `.unknown`, and an exact verdict reached within the bound agrees with the reference.
@Suite struct BoundTests {
    /// The reference history that takes the most steps, with its step count.
    static func hardest() throws -> (reference: TestData.Reference, history: [RegisterOperation], steps: Int) {
        var best: (TestData.Reference, [RegisterOperation], Int)?
        for reference in try TestData.loadReferences() {
            let history = try JepsenHistory.parse(try TestData.jepsenText(reference.file))
            let steps = LinearizabilityChecker.run(model: RegisterModel(), history: history).steps
            if steps > best?.2 ?? -1 { best = (reference, history, steps) }
        }
        return try #require(best)
    }

    @Test func tinyStepLimitOnAHardHistoryIsUnknown() throws {
        let (reference, history, steps) = try Self.hardest()
        #expect(steps > 1_000, "\(reference.file) takes \(steps) steps")
        let result = LinearizabilityChecker.run(model: RegisterModel(), history: history, limits: CheckLimits(maxSteps: 100))
        #expect(result.verdict.reason?.contains("step limit (100) reached") == true, "\(result.verdict)")
        #expect(result.steps == 100)
        // One step short of what it needs is still unknown; exactly enough gives the verdict.
        let justShort = LinearizabilityChecker.check(model: RegisterModel(), history: history, limits: CheckLimits(maxSteps: steps - 1))
        #expect(justShort.isUnknown)
        let enough = LinearizabilityChecker.check(model: RegisterModel(), history: history, limits: CheckLimits(maxSteps: steps))
        #expect(enough.label == (reference.linearizable ? "linearizable" : "not-linearizable"))
    }

    @Test(arguments: [0, 1, 10, 100, 1_000, 10_000])
    func everyBoundedVerdictIsUnknownOrTheReference(maxSteps: Int) throws {
        for reference in try TestData.loadReferences() {
            let history = try JepsenHistory.parse(try TestData.jepsenText(reference.file))
            let verdict = LinearizabilityChecker.check(model: RegisterModel(), history: history, limits: CheckLimits(maxSteps: maxSteps))
            let expected = reference.linearizable ? "linearizable" : "not-linearizable"
            #expect(verdict.isUnknown || verdict.label == expected, "\(reference.file) with maxSteps \(maxSteps): \(verdict)")
        }
    }

    @Test func passedDeadlineIsUnknown() throws {
        let (_, history, _) = try Self.hardest()
        let limits = CheckLimits(deadlineCheckIntervalSteps: 50, isPastDeadline: { true })
        let verdict = LinearizabilityChecker.check(model: RegisterModel(), history: history, limits: limits)
        #expect(verdict.reason?.contains("deadline passed") == true, "\(verdict)")
    }

    @Test func deadlineIsAskedEveryIntervalDuringTheSearch() throws {
        let (_, history, steps) = try Self.hardest()
        let calls = Counter()
        // Passes only after the first check, i.e. in the middle of the search.
        let limits = CheckLimits(deadlineCheckIntervalSteps: 100, isPastDeadline: { calls.increment() > 1 })
        let result = LinearizabilityChecker.run(model: RegisterModel(), history: history, limits: limits)
        #expect(result.verdict.reason == "partition 0 (register): deadline passed after 100 steps")
        #expect(steps > 100)
    }

    @Test func memoLimitIsUnknown() throws {
        let (_, history, _) = try Self.hardest()
        let verdict = LinearizabilityChecker.check(model: RegisterModel(), history: history, limits: CheckLimits(maxCacheEntries: 10))
        #expect(verdict.reason?.contains("memo limit (10 entries) reached") == true, "\(verdict)")
    }

    @Test func partitionSizeLimitIsUnknownButAnotherBadPartitionStillDecides() throws {
        var lines: [String] = []
        for version in 1...20 {
            lines.append(#"{"process": "c1", "type": "invoke", "op": "write", "volume": "big", "block": 0, "value": \#(version)}"#)
            lines.append(#"{"process": "c1", "type": "ok"}"#)
        }
        let big = lines.joined(separator: "\n")
        let tooBig = try checkBlocks(big, limits: CheckLimits(maxOperationsPerPartition: 10))
        #expect(tooBig.reason == "partition 0 (block big/0): 20 operations, more than the limit of 10", "\(tooBig)")

        let bad = big + "\n" + """
            {"process": "c2", "type": "invoke", "op": "read", "volume": "small", "block": 0}
            {"process": "c2", "type": "ok", "value": 3}
            """
        #expect(try checkBlocks(bad, limits: CheckLimits(maxOperationsPerPartition: 10)).failedPartition == 1)
    }
}

/// A thread-safe counter for the deadline closure, which must be `@Sendable`.
final class Counter: Sendable {
    private let value = Mutex(0)

    func increment() -> Int {
        value.withLock { value in
            value += 1
            return value
        }
    }
}
