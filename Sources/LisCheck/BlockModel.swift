/// One block of one volume: the key of a `BlockModel` partition.
public struct BlockAddress: Hashable, Sendable, CustomStringConvertible {
    public var volume: String
    public var block: UInt64

    public init(volume: String, block: UInt64) {
        self.volume = volume
        self.block = block
    }

    /// `volume/block`, e.g. `vm1/7`.
    public var description: String { "\(volume)/\(block)" }
}

/// Lis's blocks as seen by clients: every block of every volume is an independent register
/// holding the version (tag) of the last write, `0` before the first. A read returns the
/// version it saw; a write installs its version.
///
/// Blocks are independent and every operation touches one block, so the history is checked
/// per block (P-compositionality, Horn & Kroening 2015); partitions come in the order in which
/// their blocks first appear in the history.
public struct BlockModel: Model {
    /// What a client asks: an action on one block.
    public struct Input: Hashable, Sendable, CustomStringConvertible {
        public var address: BlockAddress
        public var action: Action

        public init(address: BlockAddress, action: Action) {
            self.address = address
            self.action = action
        }

        public var description: String {
            switch action {
            case .read: "read \(address)"
            case .write(let version): "write \(address) \(version)"
            }
        }
    }

    /// A read or a write of a block.
    public enum Action: Hashable, Sendable {
        /// Reads the block's version.
        case read
        /// Writes the block, giving it this version.
        case write(version: Int)
    }

    /// What a client is told.
    public enum Output: Hashable, Sendable, CustomStringConvertible {
        /// A read saw this version (`0`: never written).
        case read(version: Int)
        /// A write was acknowledged.
        case written
        /// The outcome was lost (`"type": "info"`): a write may have taken effect or not.
        case unknown

        public var description: String {
            switch self {
            case .read(let version): "\(version)"
            case .written: "ok"
            case .unknown: "unknown"
            }
        }
    }

    /// The version of the block; `0` before the first write.
    public typealias State = Int

    public init() {}

    public var initialState: Int { 0 }

    public func step(_ state: Int, input: Input, output: Output) -> (ok: Bool, newState: Int) {
        switch (input.action, output) {
        case (.read, .read(let version)): (state == version, state)
        case (.read, .unknown): (true, state)
        case (.write(let version), .written), (.write(let version), .unknown): (true, version)
        case (.read, .written), (.write, .read): (false, state)
        }
    }

    public func partition(_ history: [Operation<Input, Output>]) -> [[Operation<Input, Output>]] {
        var indexOfAddress: [BlockAddress: Int] = [:]
        var partitions: [[Operation<Input, Output>]] = []
        for operation in history {
            if let index = indexOfAddress[operation.input.address] {
                partitions[index].append(operation)
            } else {
                indexOfAddress[operation.input.address] = partitions.count
                partitions.append([operation])
            }
        }
        return partitions
    }

    /// Takes the pending operations out of the search where that keeps the verdict, because
    /// each one left in can multiply the orders to try (it may take effect at any later time):
    /// * a pending read constrains nothing, so it is dropped;
    /// * a pending write whose version no completed read saw is dropped: whatever follows it
    ///   up to the next write would have to read its version, so leaving it out changes nothing;
    /// * a pending write whose version some completed read saw, when no other write in the
    ///   block has that version (and it is not 0), must have taken effect before the first of
    ///   those reads returned, so it becomes a completed write returning then — in explanations
    ///   it shows as `write V → unknown` with that return.
    public func simplify(_ partition: [Operation<Input, Output>]) -> [Operation<Input, Output>] {
        var writesOfVersion: [Int: Int] = [:]
        var firstReturnOfReadOf: [Int: Int] = [:]
        for operation in partition {
            switch (operation.input.action, operation.output, operation.returnTime) {
            case (.write(let version), _, _):
                writesOfVersion[version, default: 0] += 1
            case (.read, .read(let version), let returnTime?):
                firstReturnOfReadOf[version] = min(firstReturnOfReadOf[version] ?? returnTime, returnTime)
            default:
                break
            }
        }
        return partition.compactMap { operation in
            guard operation.isPending else { return operation }
            guard case .write(let version) = operation.input.action else { return nil }
            guard let deadline = firstReturnOfReadOf[version] else { return nil }
            guard version != initialState, writesOfVersion[version] == 1 else { return operation }
            var bounded = operation
            // A read that returned before the write was called makes the history
            // non-linearizable either way; the zero-length interval keeps it so.
            bounded.returnTime = max(deadline, operation.callTime)
            return bounded
        }
    }

    public func describe(partition: [Operation<Input, Output>]) -> String {
        partition.first.map { "block \($0.input.address)" } ?? "no block"
    }

    public func describe(operation: Operation<Input, Output>) -> String {
        switch operation.input.action {
        case .read: "\(operation.process) read → \(operation.output)"
        case .write(let version): "\(operation.process) write \(version) → \(operation.output)"
        }
    }
}
