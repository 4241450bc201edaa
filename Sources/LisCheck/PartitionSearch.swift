/// The search of one partition: Wing & Gong's backtracking over the minimal operations with
/// Lowe's memoization of (linearized set, state), on doubly linked lists of call and return
/// entries from which linearized operations are lifted and into which they are put back
/// (dancing links).
///
/// An operation may be linearized next when its call entry comes before the first return
/// entry still in the list: every operation not yet linearized that returned earlier would
/// otherwise be ordered after an operation that began after it returned. Pending operations
/// have no return entry; they may be linearized whenever they are minimal, or never, so the
/// search succeeds once every completed operation is linearized. They live in a list of their
/// own, so that the walk over the completed candidates does not step over every pending
/// operation not yet taken.
///
/// Pending operations also strengthen the memoization. A configuration is the set of
/// completed operations linearized, the set of pending ones linearized and the state. If
/// (C, P, s) was visited, then (C, P′, s) with P ⊆ P′ needs no visit: any way to finish from
/// it finishes from (C, P, s) too, by leaving the extra pending operations out — they have no
/// return that could force them in. (By induction on the length of the shortest way to
/// finish, a failed search has then still tried every way.) Without this the search would
/// try every subset of the pending operations that a later write overwrites, which is what
/// makes histories with many timed-out writes slow.
struct PartitionSearch<M: Model> {
    enum Outcome {
        case linearizable
        /// The longest linearizable prefix found (operation indices in order).
        case notLinearizable(longestPrefix: [Int])
        /// This completed operation fits none of the states that the partition's operations
        /// reach in any order (`reachableStates` of them), so no order can include it.
        case impossible(operation: Int, reachableStates: Int)
        case unknown(reason: String)
    }

    /// How many model steps the order-free pre-check may take per partition.
    static var precheckStepsMax: Int { 200_000 }

    /// The pre-check runs once the search has taken this many steps per operation.
    static var precheckAfterStepsPerOperation: Int { 10 }

    private let model: M
    private let operations: [Operation<M.Input, M.Output>]

    // Two lists over one set of links: entries are numbered from `firstEntry` in time order, so
    // comparing two entries compares their times. `completedHead` starts the calls and returns
    // of completed operations, `pendingHead` the calls of pending ones; `end` ends both.
    private static var completedHead: Int { 0 }
    private static var pendingHead: Int { 1 }
    private static var firstEntry: Int { 2 }
    private static var end: Int { Int.max }
    private var next: [Int]
    private var previous: [Int]
    private var entryOperation: [Int]
    private var entryIsCall: [Bool]
    /// Per operation: its return entry, or `end` when pending.
    private var returnEntry: [Int]
    /// Per operation: its index among the completed operations, or among the pending ones.
    private let slot: [Int]
    private let completedCount: Int
    private let pendingCount: Int

    init(model: M, operations: [Operation<M.Input, M.Output>]) {
        self.model = model
        self.operations = operations

        // Events in time order; at equal times calls go first, so the two operations overlap.
        var events: [(time: Int, isCall: Bool, operation: Int)] = []
        events.reserveCapacity(operations.count * 2)
        for (index, operation) in operations.enumerated() {
            events.append((operation.callTime, true, index))
            if let returnTime = operation.returnTime { events.append((returnTime, false, index)) }
        }
        events.sort { a, b in
            if a.time != b.time { return a.time < b.time }
            if a.isCall != b.isCall { return a.isCall }
            return a.operation < b.operation
        }

        let count = events.count + Self.firstEntry
        next = Array(repeating: Self.end, count: count)
        previous = Array(repeating: Self.end, count: count)
        entryOperation = Array(repeating: -1, count: count)
        entryIsCall = Array(repeating: false, count: count)
        returnEntry = Array(repeating: Self.end, count: operations.count)
        var tails = [Self.completedHead, Self.pendingHead]
        for (offset, event) in events.enumerated() {
            let entry = offset + Self.firstEntry
            entryOperation[entry] = event.operation
            entryIsCall[entry] = event.isCall
            if !event.isCall { returnEntry[event.operation] = entry }
            let list = operations[event.operation].isPending ? 1 : 0
            previous[entry] = tails[list]
            next[tails[list]] = entry
            tails[list] = entry
        }
        var slot: [Int] = []
        var completedCount = 0, pendingCount = 0
        for operation in operations {
            if operation.isPending {
                slot.append(pendingCount)
                pendingCount += 1
            } else {
                slot.append(completedCount)
                completedCount += 1
            }
        }
        self.slot = slot
        self.completedCount = completedCount
        self.pendingCount = pendingCount
    }

    /// Removes a call entry and its return entry (if any) from their list.
    private mutating func lift(_ call: Int) {
        unlink(call)
        let returned = returnEntry[entryOperation[call]]
        if returned != Self.end { unlink(returned) }
    }

    /// Puts back what `lift` removed, in the reverse order.
    private mutating func unlift(_ call: Int) {
        let returned = returnEntry[entryOperation[call]]
        if returned != Self.end { relink(returned) }
        relink(call)
    }

    private mutating func unlink(_ entry: Int) {
        let before = previous[entry]
        let after = next[entry]
        next[before] = after
        if after != Self.end { previous[after] = before }
    }

    private mutating func relink(_ entry: Int) {
        let before = previous[entry]
        let after = next[entry]
        next[before] = entry
        if after != Self.end { previous[after] = entry }
    }

    /// Candidates are tried in two passes: completed operations first, then pending ones,
    /// which are optional and so less often the right next step. The order in which children
    /// are tried does not change the verdict, only how soon a linearization is found.
    private enum Pass { case completed, pending }

    private struct MemoKey: Hashable {
        var completed: Bitset
        var state: M.State
    }

    /// Lowe's cache with pending-operation subsumption: per (completed set, state), the
    /// pending sets visited, kept as an antichain (no member a subset of another).
    private struct Memo {
        private var pendingSets: [MemoKey: [Bitset]] = [:]
        private(set) var count = 0

        /// Records the configuration and returns `true` if no visited configuration
        /// subsumes it.
        mutating func admit(completed: Bitset, state: M.State, pending: Bitset) -> Bool {
            let key = MemoKey(completed: completed, state: state)
            guard let index = pendingSets.index(forKey: key) else {
                pendingSets[key] = [pending]
                count += 1
                return true
            }
            if pendingSets.values[index].contains(where: { $0.isSubset(of: pending) }) { return false }
            let before = pendingSets.values[index].count
            pendingSets.values[index].removeAll { pending.isSubset(of: $0) }
            pendingSets.values[index].append(pending)
            count += pendingSets.values[index].count - before
            return true
        }
    }

    /// An order-free pre-check: the states reachable from the initial state by applying the
    /// partition's operations in *any* order, any number of times, over-approximate those of
    /// every linearization; a completed operation that fits none of them can never be
    /// linearized. It finds in a few steps what the search would need every order of the
    /// history to prove, e.g. a read of a value no one wrote. `nil` when every completed
    /// operation fits some state, or when `steps` reached `budget` (inconclusive, never a
    /// verdict).
    private func impossibleOperation(budget: Int, steps: inout Int) -> (operation: Int, reachableStates: Int)? {
        var reachable: Set<M.State> = [model.initialState]
        var worklist = [model.initialState]
        var fits = Array(repeating: false, count: operations.count)
        while let state = worklist.popLast() {
            for (index, operation) in operations.enumerated() {
                if steps >= budget { return nil }
                steps += 1
                let (ok, newState) = model.step(state, input: operation.input, output: operation.output)
                guard ok else { continue }
                fits[index] = true
                if reachable.insert(newState).inserted { worklist.append(newState) }
            }
        }
        guard let impossible = operations.indices.first(where: { !fits[$0] && !operations[$0].isPending }) else { return nil }
        return (impossible, reachable.count)
    }

    /// Runs the search within `limits`; `steps` is increased by the steps taken (candidates
    /// tried and backtracks of the search, and the model steps of the pre-check).
    @_specialize(where M == RegisterModel)
    @_specialize(where M == BlockModel)
    mutating func run(limits: CheckLimits, steps: inout Int) -> Outcome {
        var stepsHere = 0
        defer { steps += stepsHere }
        // Most linearizable histories are ordered in a few steps per operation, so the
        // pre-check (about states × operations steps) waits until the search struggles.
        let precheckAtStep = Self.precheckAfterStepsPerOperation * operations.count

        var state = model.initialState
        var completed = Bitset(count: completedCount)
        var pending = Bitset(count: pendingCount)
        var memo = Memo()
        // The call entries linearized so far, with what to restore when each is undone.
        var stack: [(call: Int, stateBefore: M.State, pass: Pass, firstReturn: Int)] = []
        var remaining = completedCount
        var longestPrefix: [Int] = []
        var longestIsStale = false
        var entry = next[Self.completedHead]
        var pass = Pass.completed
        // In the pending pass: the first return entry of the completed list, which bounds it.
        var firstReturn = Self.end

        while remaining > 0 {
            if stepsHere >= limits.maxSteps {
                return .unknown(reason: "step limit (\(limits.maxSteps)) reached")
            }
            stepsHere += 1
            if stepsHere == precheckAtStep,
                let (impossible, reachableStates) = impossibleOperation(
                    budget: min(limits.maxSteps, stepsHere + Self.precheckStepsMax), steps: &stepsHere)
            {
                return .impossible(operation: impossible, reachableStates: reachableStates)
            }
            if stepsHere % limits.deadlineCheckIntervalSteps == 0, let isPastDeadline = limits.isPastDeadline, isPastDeadline() {
                return .unknown(reason: "deadline passed after \(stepsHere) steps")
            }

            let isCandidate = switch pass {
            case .completed: entryIsCall[entry]  // A completed operation remains, so its return comes before the end.
            case .pending: entry < firstReturn
            }
            if isCandidate {
                let index = entryOperation[entry]
                let operation = operations[index]
                let (ok, newState) = model.step(state, input: operation.input, output: operation.output)
                if ok {
                    if pass == .pending { pending.insert(slot[index]) } else { completed.insert(slot[index]) }
                    if memo.admit(completed: completed, state: newState, pending: pending) {
                        if memo.count > limits.maxCacheEntries {
                            return .unknown(reason: "memo limit (\(limits.maxCacheEntries) entries) reached")
                        }
                        stack.append((entry, state, pass, firstReturn))
                        state = newState
                        lift(entry)
                        if pass == .completed { remaining -= 1 }
                        if stack.count > longestPrefix.count { longestIsStale = true }
                        entry = next[Self.completedHead]
                        pass = .completed
                        continue
                    }
                    if pass == .pending { pending.remove(slot[index]) } else { completed.remove(slot[index]) }
                }
                entry = next[entry]
            } else if pass == .completed {
                // Every completed candidate has been tried; now the pending ones called
                // before this return.
                pass = .pending
                firstReturn = entry
                entry = next[Self.pendingHead]
            } else {
                // Nothing can go next: undo the last choice.
                if longestIsStale {
                    longestPrefix = stack.map { entryOperation[$0.call] }
                    longestIsStale = false
                }
                guard let undone = stack.popLast() else {
                    return .notLinearizable(longestPrefix: longestPrefix)
                }
                let index = entryOperation[undone.call]
                state = undone.stateBefore
                pass = undone.pass
                firstReturn = undone.firstReturn
                if pass == .pending {
                    pending.remove(slot[index])
                } else {
                    completed.remove(slot[index])
                    remaining += 1
                }
                unlift(undone.call)
                entry = next[undone.call]
            }
        }
        return .linearizable
    }
}
