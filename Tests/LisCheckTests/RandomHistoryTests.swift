import LisCheck
import Testing

/// Histories the checker has not seen: a random sequential execution, each operation given a
/// random interval around its moment of effect, is linearizable by construction; a read
/// changed to a value nobody wrote makes it non-linearizable. Seeded: a failure names the
/// seed that replays it.
@Suite struct RandomHistoryTests {
    /// One generated operation: its effect happens at `point`, inside `[call, end]`.
    struct Generated<Input, Output> {
        var input: Input
        var output: Output
        var call: Int
        /// The completion line's time (for a pending operation, its `info` line).
        var end: Int
        var completion: Completion
    }

    enum Completion { case ok, failed, timedOut, pending }

    /// Gives each operation an interval around `point` (overlapping its neighbours) and lays
    /// out the events as lines, assigning process ids that are free at each invoke.
    static func render<Input, Output>(
        _ operations: [Generated<Input, Output>],
        invoke: (Generated<Input, Output>, Int) -> String,
        complete: (Generated<Input, Output>, Int) -> String
    ) -> String {
        var events: [(time: Int, index: Int, isCall: Bool)] = []
        for (index, operation) in operations.enumerated() {
            events.append((operation.call, index, true))
            events.append((operation.end, index, false))
        }
        events.sort { ($0.time, $0.index, $0.isCall ? 0 : 1) < ($1.time, $1.index, $1.isCall ? 0 : 1) }
        var free: [Int] = []
        var nextProcess = 0
        var processOf: [Int: Int] = [:]
        var lines: [String] = []
        for event in events {
            if event.isCall {
                let process: Int
                if let lowest = free.min() {
                    free.removeAll { $0 == lowest }
                    process = lowest
                } else {
                    process = nextProcess
                    nextProcess += 1
                }
                processOf[event.index] = process
                lines.append(invoke(operations[event.index], process))
            } else {
                let process = processOf[event.index]!
                free.append(process)
                lines.append(complete(operations[event.index], process))
            }
        }
        return lines.joined(separator: "\n")
    }

    static func interval(around point: Int, width: Int, using random: inout SplitMix64) -> (call: Int, end: Int) {
        (point - 1 - Int.random(in: 0..<width, using: &random), point + 1 + Int.random(in: 0..<width, using: &random))
    }

    /// A Jepsen register history of `count` operations.
    static func registerHistory(seed: UInt64, count: Int, width: Int) -> String {
        var random = SplitMix64(seed: seed)
        var state: Int?
        var nextValue = 1
        var operations: [Generated<RegisterModel.Input, RegisterModel.Output>] = []
        for step in 1...count {
            let point = 100 * step
            let (call, end) = interval(around: point, width: width, using: &random)
            let input: RegisterModel.Input
            var output: RegisterModel.Output
            let roll = Int.random(in: 0..<100, using: &random)
            if roll < 40 {
                input = .read
                output = .read(state)
            } else if roll < 70 {
                input = .write(nextValue)
                output = .done
                state = nextValue
                nextValue += 1
            } else if roll < 95 {
                let from = state != nil && Bool.random(using: &random) ? state! : Int.random(in: 1...nextValue, using: &random)
                input = .cas(from: from, to: nextValue)
                nextValue += 1
                if state == from {
                    state = input.casTarget
                    output = .done
                } else {
                    output = .casFailed
                }
            } else {
                // A write that never took effect and whose outcome was lost.
                operations.append(Generated(input: .write(nextValue), output: .unknown, call: call, end: end, completion: .pending))
                nextValue += 1
                continue
            }
            var completion = Completion.ok
            switch Int.random(in: 0..<100, using: &random) {
            case ..<8: completion = .pending
            case ..<12 where input == .read: completion = .timedOut
            default: break
            }
            if completion != .ok { output = .unknown }
            operations.append(Generated(input: input, output: output, call: call, end: end, completion: completion))
        }
        return render(operations) { operation, process in
            "INFO  jepsen.util - \(process)\t:invoke\t\(operation.input.keyword)\t\(operation.input.argument)"
        } complete: { operation, process in
            let (type, argument): (String, String)
            switch (operation.completion, operation.output) {
            case (.pending, _): (type, argument) = (":info", ":timed-out")
            case (.timedOut, _): (type, argument) = (":fail", ":timed-out")
            case (_, .read(let value)): (type, argument) = (":ok", value.map(String.init) ?? "nil")
            case (_, .casFailed): (type, argument) = (":fail", operation.input.argument)
            default: (type, argument) = (":ok", operation.input.argument)
            }
            return "INFO  jepsen.util - \(process)\t\(type)\t\(operation.input.keyword)\t\(argument)"
        }
    }

    /// A Lis block history of `count` operations over `blocks` blocks in two volumes.
    static func blockHistory(seed: UInt64, count: Int, blocks: Int, width: Int, pendingPercent: Int = 10) -> String {
        var random = SplitMix64(seed: seed)
        var versions: [BlockAddress: Int] = [:]
        var nextVersion = 1
        var operations: [Generated<BlockModel.Input, BlockModel.Output>] = []
        for step in 1...count {
            let point = 100 * step
            let (call, end) = interval(around: point, width: width, using: &random)
            let block = Int.random(in: 0..<blocks, using: &random)
            let address = BlockAddress(volume: block % 2 == 0 ? "vm1" : "vm2", block: UInt64(block / 2))
            let roll = Int.random(in: 0..<100, using: &random)
            if roll < 45 {
                let completion: Completion = Int.random(in: 0..<100, using: &random) < pendingPercent ? .pending : .ok
                operations.append(Generated(
                    input: .init(address: address, action: .read), output: completion == .ok ? .read(version: versions[address] ?? 0) : .unknown,
                    call: call, end: end, completion: completion))
            } else if roll < 92 {
                let completion: Completion = Int.random(in: 0..<100, using: &random) < pendingPercent ? .pending : .ok
                operations.append(Generated(
                    input: .init(address: address, action: .write(version: nextVersion)), output: completion == .ok ? .written : .unknown,
                    call: call, end: end, completion: completion))
                versions[address] = nextVersion
                nextVersion += 1
            } else {
                // A write that failed: it did not happen.
                operations.append(Generated(
                    input: .init(address: address, action: .write(version: nextVersion)), output: .unknown, call: call, end: end, completion: .failed))
                nextVersion += 1
            }
        }
        func line(_ operation: Generated<BlockModel.Input, BlockModel.Output>, _ process: Int, _ type: String, value: String?) -> String {
            let op = operation.input.action == .read ? "read" : "write"
            let address = operation.input.address
            let tail = value.map { ", \"value\": \($0)" } ?? ""
            return #"{"process": "c\#(process)", "type": "\#(type)", "op": "\#(op)", "volume": "\#(address.volume)", "block": \#(address.block)\#(tail)}"#
        }
        return render(operations) { operation, process in
            if case .write(let version) = operation.input.action { return line(operation, process, "invoke", value: "\(version)") }
            return line(operation, process, "invoke", value: nil)
        } complete: { operation, process in
            switch (operation.completion, operation.output) {
            case (.pending, _): return line(operation, process, "info", value: nil)
            case (.failed, _): return line(operation, process, "fail", value: nil)
            case (_, .read(let version)): return line(operation, process, "ok", value: version == 0 && process % 2 == 0 ? "null" : "\(version)")
            default: return line(operation, process, "ok", value: nil)
            }
        }
    }

    /// Makes a random completed read return the value of a completed write that a later
    /// completed write overwrote before the read began — a stale read, which no order can
    /// explain since every value is written once (`produced` gives the value an operation
    /// installed). `nil` when the history has no such read.
    static func staleRead<Input, Output>(
        in history: [Operation<Input, Output>],
        isRead: (Operation<Input, Output>) -> Bool,
        produced: (Operation<Input, Output>) -> Int?,
        using random: inout SplitMix64
    ) -> (read: Int, value: Int)? {
        let writes = history.indices.filter { !history[$0].isPending && produced(history[$0]) != nil }
        var candidates: [(Int, Int)] = []
        for read in history.indices where isRead(history[read]) && !history[read].isPending {
            let before = writes.filter { history[$0].returnTime! < history[read].callTime }
            for stale in before where before.contains(where: { history[$0].callTime > history[stale].returnTime! }) {
                candidates.append((read, produced(history[stale])!))
            }
        }
        return candidates.randomElement(using: &random).map { (read: $0.0, value: $0.1) }
    }

    static let seeds: [UInt64] = Array(1...40)

    @Test(arguments: seeds)
    func generatedRegisterHistoriesAreLinearizableAndBreakWhenAReadIsForged(seed: UInt64) throws {
        for (index, (count, width)) in [(30, 150), (60, 300), (120, 400)].enumerated() {
            let variant = seed * 10 + UInt64(index)
            let history = try JepsenHistory.parse(Self.registerHistory(seed: variant, count: count, width: width))
            #expect(LinearizabilityChecker.check(model: RegisterModel(), history: history) == .linearizable, "seed \(variant)")
            guard count <= 60 else { continue }  // Proving a violation takes exponential time; keep it quick.

            var random = SplitMix64(seed: variant)
            let reads = history.indices.filter { if case .read = history[$0].output { true } else { false } }
            let forged = try #require(reads.randomElement(using: &random))
            var neverWritten = history
            neverWritten[forged].output = .read(1_000_000)
            let verdict = LinearizabilityChecker.check(model: RegisterModel(), history: neverWritten)
            #expect(verdict.isNotLinearizable, "seed \(variant): forged read at line \(history[forged].callTime) gives \(verdict)")

            let stale = try #require(Self.staleRead(
                in: history, isRead: { if case .read = $0.output { true } else { false } },
                produced: { operation in
                    switch (operation.input, operation.output) {
                    case (.write(let value), .done), (.cas(_, let value), .done): value
                    default: nil
                    }
                },
                using: &random))
            var staleHistory = history
            staleHistory[stale.read].output = .read(stale.value)
            let staleVerdict = LinearizabilityChecker.check(model: RegisterModel(), history: staleHistory)
            #expect(staleVerdict.isNotLinearizable, "seed \(variant): stale read at line \(history[stale.read].callTime) gives \(staleVerdict)")
        }
    }

    @Test(arguments: seeds)
    func generatedBlockHistoriesAreLinearizableAndTheForgedBlockIsReported(seed: UInt64) throws {
        let history = try LisHistory.parse(Self.blockHistory(seed: seed, count: 150, blocks: 6, width: 500))
        let result = LinearizabilityChecker.run(model: BlockModel(), history: history)
        #expect(result.verdict == .linearizable, "seed \(seed)")
        #expect(result.partitionCount == 6, "seed \(seed)")

        var random = SplitMix64(seed: seed)
        let isRead: (BlockOperation) -> Bool = { if case .read = $0.output { true } else { false } }
        let forged = try #require(history.indices.filter { isRead(history[$0]) }.randomElement(using: &random))
        var neverWritten = history
        neverWritten[forged].output = .read(version: 1_000_000)
        let stale = try #require(Self.staleRead(
            in: history, isRead: isRead,
            produced: { operation in
                if case .write(let version) = operation.input.action, operation.output == .written { version } else { nil }
            },
            using: &random))
        var staleHistory = history
        staleHistory[stale.read].output = .read(version: stale.value)

        for (broken, changed) in [(neverWritten, forged), (staleHistory, stale.read)] {
            let partitions = BlockModel().partition(broken)
            let expected = partitions.firstIndex { $0.first?.input.address == history[changed].input.address }
            let verdict = LinearizabilityChecker.check(model: BlockModel(), history: broken)
            #expect(verdict.failedPartition == expected, "seed \(seed): read at line \(history[changed].callTime) changed: \(verdict)")
        }
    }

    /// `BlockModel.simplify` takes pending operations out of the search; it must never change
    /// a verdict. Small dense histories with many pending writes, and reads changed to other
    /// versions of their block (some of them still linearizable), are checked with and
    /// without it.
    @Test(arguments: seeds)
    func simplifiedBlockSearchAgreesWithThePlainSearch(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        var linearizable = 0, notLinearizable = 0
        for round in 0..<5 {
            let history = try LisHistory.parse(Self.blockHistory(seed: seed * 100 + UInt64(round), count: 40, blocks: 2, width: 400, pendingPercent: 30))
            let versions = history.compactMap { operation -> Int? in
                if case .write(let version) = operation.input.action { version } else { nil }
            }
            let reads = history.indices.filter { if case .read = history[$0].output { true } else { false } }
            for _ in 0..<4 {
                var changed = history
                if let read = reads.randomElement(using: &random) {
                    // Another version, possibly of a pending write, or never written.
                    changed[read].output = .read(version: (versions + [0, 999]).randomElement(using: &random)!)
                }
                let simplified = LinearizabilityChecker.check(model: BlockModel(), history: changed)
                let plain = LinearizabilityChecker.check(model: PlainBlockModel(), history: changed)
                #expect(simplified.label == plain.label, "seed \(seed) round \(round): \(simplified) vs \(plain)")
                #expect(!plain.isUnknown)
                if simplified.isLinearizable { linearizable += 1 } else { notLinearizable += 1 }
            }
        }
        // Both answers occur, so the comparison means something.
        #expect(linearizable > 0 && notLinearizable > 0, "seed \(seed): \(linearizable) linearizable, \(notLinearizable) not")
    }
}

/// `BlockModel` without `simplify`: the plain search over every pending operation.
struct PlainBlockModel: Model {
    let base = BlockModel()
    var initialState: Int { base.initialState }
    func step(_ state: Int, input: BlockModel.Input, output: BlockModel.Output) -> (ok: Bool, newState: Int) {
        base.step(state, input: input, output: output)
    }
    func partition(_ history: [BlockOperation]) -> [[BlockOperation]] { base.partition(history) }
}

extension RegisterModel.Input {
    var keyword: String {
        switch self {
        case .read: ":read"
        case .write: ":write"
        case .cas: ":cas"
        }
    }

    var argument: String {
        switch self {
        case .read: "nil"
        case .write(let value): "\(value)"
        case .cas(let from, let to): "[\(from) \(to)]"
        }
    }

    var casTarget: Int? {
        if case .cas(_, let to) = self { to } else { nil }
    }
}
