/// Jepsen's compare-and-set register: one integer register that starts empty (`nil`), with
/// `read`, `write v` and `cas [from to]`, as in the Jepsen etcd histories.
public struct RegisterModel: Model {
    /// What a client asks of the register.
    public enum Input: Hashable, Sendable, CustomStringConvertible {
        /// Reads the value.
        case read
        /// Sets the value.
        case write(Int)
        /// Sets the value to `to` if it is `from`.
        case cas(from: Int, to: Int)

        public var description: String {
            switch self {
            case .read: "read"
            case .write(let value): "write \(value)"
            case .cas(let from, let to): "cas [\(from) \(to)]"
            }
        }
    }

    /// What a client is told.
    public enum Output: Hashable, Sendable, CustomStringConvertible {
        /// A read saw this value (`nil`: never written).
        case read(Int?)
        /// A write or a cas took effect (`:ok`).
        case done
        /// A cas definitely did not swap (`:fail :cas`): the value was not `from`.
        case casFailed
        /// The outcome was lost: any value for a read; a write or cas that takes effect does
        /// what it says (a cas swaps if and only if the value is `from`).
        case unknown

        public var description: String {
            switch self {
            case .read(let value): value.map(String.init) ?? "nil"
            case .done: "ok"
            case .casFailed: "failed"
            case .unknown: "unknown"
            }
        }
    }

    /// The register's value; `nil` before the first write.
    public typealias State = Int?

    public init() {}

    public var initialState: Int? { nil }

    public func step(_ state: Int?, input: Input, output: Output) -> (ok: Bool, newState: Int?) {
        switch (input, output) {
        case (.read, .read(let value)):
            return (state == value, state)
        case (.read, .unknown):
            return (true, state)
        case (.write(let value), .done), (.write(let value), .unknown):
            return (true, value)
        case (.cas(let from, let to), .done):
            return (state == from, to)
        case (.cas(let from, _), .casFailed):
            return (state != from, state)
        case (.cas(let from, let to), .unknown):
            return (true, state == from ? to : state)
        case (.read, .done), (.read, .casFailed), (.write, .read), (.write, .casFailed), (.cas, .read):
            // An answer that does not belong to the request can never be explained.
            return (false, state)
        }
    }

    public func describe(partition: [Operation<Input, Output>]) -> String { "register" }

    public func describe(operation: Operation<Input, Output>) -> String {
        switch (operation.input, operation.output) {
        case (.read, _): "process \(operation.process) read → \(operation.output)"
        default: "process \(operation.process) \(operation.input) → \(operation.output)"
        }
    }

    public func describe(state: Int?) -> String { state.map(String.init) ?? "nil" }
}
