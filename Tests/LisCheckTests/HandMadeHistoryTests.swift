import LisCheck
import Testing

/// Small histories whose verdicts can be worked out by hand, each the shortest story of one
/// rule: real-time order, pending operations, failed and unknown outcomes, partitions.
@Suite struct HandMadeHistoryTests {
    @Test func sequentialHistoryIsLinearizable() throws {
        let verdict = try checkRegister("""
            0 :invoke :read nil
            0 :ok :read nil
            0 :invoke :write 1
            0 :ok :write 1
            1 :invoke :cas [1 2]
            1 :ok :cas [1 2]
            0 :invoke :read nil
            0 :ok :read 2
            """)
        #expect(verdict == .linearizable)
    }

    @Test func emptyHistoryIsLinearizable() throws {
        #expect(try checkRegister("") == .linearizable)
        #expect(try checkBlocks("") == .linearizable)
    }

    @Test(arguments: ["nil", "1"])
    func concurrentWriteAndReadMayGoEitherWay(seen: String) throws {
        let verdict = try checkRegister("""
            0 :invoke :write 1
            1 :invoke :read nil
            1 :ok :read \(seen)
            0 :ok :write 1
            """)
        #expect(verdict == .linearizable)
    }

    @Test func staleReadIsNotLinearizable() throws {
        let verdict = try checkRegister("""
            0 :invoke :write 1
            0 :ok :write 1
            0 :invoke :write 2
            0 :ok :write 2
            1 :invoke :read nil
            1 :ok :read 1
            """)
        #expect(verdict.failedPartition == 0)
        let explanation = try #require(verdict.explanation)
        #expect(explanation.contains("2 of 3 operations"), "\(explanation)")
        #expect(explanation.contains("process 1 read → 1 [call 5, return 6] cannot be placed"), "\(explanation)")
    }

    @Test func readMustSeeTheLatestCompletedWriteEvenFromItsOwnProcess() throws {
        let verdict = try checkRegister("""
            0 :invoke :write 1
            0 :ok :write 1
            0 :invoke :read nil
            0 :ok :read nil
            """)
        #expect(verdict.isNotLinearizable)
    }

    @Test func pendingWriteThatMustHaveTakenEffect() throws {
        // Process 1's write timed out, yet its value was read: it took effect.
        #expect(try checkRegister("""
            0 :invoke :write 1
            0 :ok :write 1
            1 :invoke :write 2
            1 :info :write :timed-out
            0 :invoke :read nil
            0 :ok :read 2
            0 :invoke :read nil
            0 :ok :read 2
            """) == .linearizable)
        // Having taken effect, it cannot be undone: going back to 1 needs another write.
        #expect(try checkRegister("""
            0 :invoke :write 1
            0 :ok :write 1
            1 :invoke :write 2
            1 :info :write :timed-out
            0 :invoke :read nil
            0 :ok :read 2
            0 :invoke :read nil
            0 :ok :read 1
            """).isNotLinearizable)
    }

    @Test func pendingWriteThatNeverTookEffect() throws {
        #expect(try checkRegister("""
            0 :invoke :write 1
            0 :ok :write 1
            1 :invoke :write 2
            1 :info :write :timed-out
            0 :invoke :read nil
            0 :ok :read 1
            0 :invoke :read nil
            0 :ok :read 1
            """) == .linearizable)
        // The same with no completion line at all, and with `:fail :write`, which the
        // reference reading also leaves pending.
        #expect(try checkRegister("""
            0 :invoke :write 1
            0 :ok :write 1
            1 :invoke :write 2
            2 :invoke :write 3
            2 :fail :write :timed-out
            0 :invoke :read nil
            0 :ok :read 1
            """) == .linearizable)
    }

    @Test func pendingWriteTakesEffectOnlyAfterItsCall() throws {
        let verdict = try checkRegister("""
            0 :invoke :read nil
            0 :ok :read 2
            1 :invoke :write 2
            1 :info :write :timed-out
            """)
        #expect(verdict.isNotLinearizable)
    }

    @Test func failedCasDidNotSwap() throws {
        #expect(try checkRegister("""
            0 :invoke :write 1
            0 :ok :write 1
            1 :invoke :cas [2 3]
            1 :fail :cas [2 3]
            0 :invoke :read nil
            0 :ok :read 1
            """) == .linearizable)
        // A cas that fails although the value was `from` is not what a cas does.
        #expect(try checkRegister("""
            0 :invoke :write 1
            0 :ok :write 1
            1 :invoke :cas [1 3]
            1 :fail :cas [1 3]
            """).isNotLinearizable)
        // Nor may a failed cas have swapped.
        #expect(try checkRegister("""
            0 :invoke :write 2
            0 :ok :write 2
            1 :invoke :cas [1 3]
            1 :fail :cas [1 3]
            0 :invoke :read nil
            0 :ok :read 3
            """).isNotLinearizable)
    }

    @Test func pendingCasSwapsOnlyIfTheValueMatches() throws {
        #expect(try checkRegister("""
            0 :invoke :write 1
            0 :ok :write 1
            1 :invoke :cas [1 3]
            1 :info :cas :timed-out
            0 :invoke :read nil
            0 :ok :read 3
            """) == .linearizable)
        #expect(try checkRegister("""
            0 :invoke :write 2
            0 :ok :write 2
            1 :invoke :cas [1 3]
            1 :info :cas :timed-out
            0 :invoke :read nil
            0 :ok :read 3
            """).isNotLinearizable)
    }

    @Test func readWithUnknownResultCompletesAndFitsAnyValue() throws {
        let history = try jepsen("""
            0 :invoke :write 1
            0 :ok :write 1
            1 :invoke :read nil
            1 :fail :read :timed-out
            """)
        #expect(history[1].returnTime == 4 && history[1].output == .unknown)
        #expect(LinearizabilityChecker.check(model: RegisterModel(), history: history) == .linearizable)
    }

    @Test func realTimeOrderIsRespectedAcrossProcesses() throws {
        // 0's write of 2 completes before 1 reads 1 and then 2 reads 2: the reads are
        // sequential, so 1 is stale whichever order the two writes overlap in.
        let verdict = try checkRegister("""
            0 :invoke :write 1
            1 :invoke :write 2
            0 :ok :write 1
            1 :ok :write 2
            2 :invoke :read nil
            2 :ok :read 2
            3 :invoke :read nil
            3 :ok :read 1
            """)
        #expect(verdict.isNotLinearizable)
    }

    @Test func blocksArePartitionedAndTheBadOneIsReported() throws {
        let verdict = try checkBlocks("""
            {"process": "c1", "type": "invoke", "op": "write", "volume": "vm1", "block": 7, "value": 1}
            {"process": "c2", "type": "invoke", "op": "write", "volume": "vm1", "block": 8, "value": 2}
            {"process": "c1", "type": "ok", "op": "write", "volume": "vm1", "block": 7, "value": 1}
            {"process": "c2", "type": "ok", "op": "write", "volume": "vm1", "block": 8, "value": 2}
            {"process": "c1", "type": "invoke", "op": "read", "volume": "vm1", "block": 7}
            {"process": "c1", "type": "ok", "op": "read", "volume": "vm1", "block": 7, "value": 1}
            {"process": "c2", "type": "invoke", "op": "read", "volume": "vm1", "block": 8}
            {"process": "c2", "type": "ok", "op": "read", "volume": "vm1", "block": 8, "value": null}
            """)
        #expect(verdict.failedPartition == 1)
        let explanation = try #require(verdict.explanation)
        #expect(explanation.hasPrefix("partition 1 (block vm1/8) is not linearizable."), "\(explanation)")
        #expect(explanation.contains("c2 read → 0 [call 7, return 8] cannot be placed"), "\(explanation)")
    }

    @Test func sameBlockNumberInTwoVolumesAreTwoBlocks() throws {
        let verdict = try checkBlocks("""
            {"process": "c1", "type": "invoke", "op": "write", "volume": "a", "block": 1, "value": 5}
            {"process": "c1", "type": "ok"}
            {"process": "c1", "type": "invoke", "op": "read", "volume": "b", "block": 1}
            {"process": "c1", "type": "ok", "value": 0}
            {"process": "c1", "type": "invoke", "op": "read", "volume": "a", "block": 1}
            {"process": "c1", "type": "ok", "value": 5}
            """)
        #expect(verdict == .linearizable)
    }

    @Test func failedBlockWriteDidNotHappenButInfoMayHave() throws {
        let failed = """
            {"process": "c1", "type": "invoke", "op": "write", "volume": "v", "block": 0, "value": 9}
            {"process": "c1", "type": "fail"}
            {"process": "c2", "type": "invoke", "op": "read", "volume": "v", "block": 0}
            {"process": "c2", "type": "ok", "value": 9}
            """
        #expect(try checkBlocks(failed).isNotLinearizable)
        #expect(try checkBlocks(failed.replacing("\"fail\"", with: "\"info\"")) == .linearizable)
    }

    @Test func timedOutBlockWriteCannotBeReadBeforeItWasCalled() throws {
        let history = """
            {"process": "c2", "type": "invoke", "op": "read", "volume": "v", "block": 0}
            {"process": "c2", "type": "ok", "value": 5}
            {"process": "c1", "type": "invoke", "op": "write", "volume": "v", "block": 0, "value": 5}
            {"process": "c1", "type": "info"}
            """
        #expect(try checkBlocks(history).isNotLinearizable)
        #expect(LinearizabilityChecker.check(model: PlainBlockModel(), history: try LisHistory.parse(history)).isNotLinearizable)
    }

    @Test func readOfAValueNobodyWroteIsExplainedByTheOrderFreePrecheck() throws {
        // Many concurrent writes make the search try many orders before the pre-check runs.
        var script = (0..<8).map { "\($0) :invoke :write \($0 + 1)" }
        script += ["8 :invoke :read nil", "8 :ok :read 99"]
        script += (0..<8).map { "\($0) :ok :write \($0 + 1)" }
        let verdict = try checkRegister(script.joined(separator: "\n"))
        let explanation = try #require(verdict.explanation)
        #expect(explanation.contains("process 8 read → 99 [call 9, return 10] fits none of the 9 states"), "\(explanation)")
    }

    /// Long enough that the linearized sets spill out of the inline words of `Bitset`.
    @Test func longSequentialHistoryAndItsStaleEnd() throws {
        var lines: [String] = []
        for value in 1...200 {
            lines.append("\(value % 3) :invoke :write \(value)")
            lines.append("\(value % 3) :ok :write \(value)")
            lines.append("\(value % 3) :invoke :read nil")
            lines.append("\(value % 3) :ok :read \(value)")
        }
        let result = LinearizabilityChecker.run(model: RegisterModel(), history: try jepsen(lines.joined(separator: "\n")))
        #expect(result.verdict == .linearizable)
        #expect(result.operationCount == 400 && result.steps < 2_000)

        lines[lines.count - 1] = "2 :ok :read 150"
        let stale = LinearizabilityChecker.check(model: RegisterModel(), history: try jepsen(lines.joined(separator: "\n")))
        #expect(stale.explanation?.contains("399 of 400 operations, ending in state 200") == true, "\(stale)")
    }
}
