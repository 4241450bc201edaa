/// An operation on Lis blocks, as `LisHistory.parse` returns them.
public typealias BlockOperation = Operation<BlockModel.Input, BlockModel.Output>

/// An operation on Jepsen's register, as `JepsenHistory.parse` returns them.
public typealias RegisterOperation = Operation<RegisterModel.Input, RegisterModel.Output>

/// Reads Lis's own client histories (JSON lines) into operations of `BlockModel`.
///
/// One event per non-blank line, in real-time order (line order), each a JSON object:
///
///     {"process": "c1", "type": "invoke", "op": "write", "volume": "vm1", "block": 7, "value": 42}
///     {"process": "c1", "type": "ok", "op": "write", "volume": "vm1", "block": 7, "value": 42}
///     {"process": "c2", "type": "invoke", "op": "read", "volume": "vm1", "block": 7}
///     {"process": "c2", "type": "ok", "op": "read", "volume": "vm1", "block": 7, "value": 42}
///
/// * `process` (string, or integer): the client. A client has at most one operation open: it
///   invokes again only after an `ok`, `fail` or `info` for the previous one.
/// * `type`: `invoke` starts an operation; `ok` completes it; `fail` says it did not happen
///   (it is dropped from the history); `info` says its outcome is unknown (it stays pending to
///   the end: it may have taken effect at any time after its invoke, or never). An operation
///   with no completion line is pending too.
/// * `op`: `read` or `write`. `volume` (string) and `block` (integer ≥ 0) name the block.
///   All three are required on `invoke`; on a completion they may be left out, and if given
///   they must match the invoke.
/// * `value` (integer or null): on a write's invoke, the version (tag) it writes — required,
///   not 0, and unique per block (the checker does not rely on uniqueness, but a history is
///   only conclusive with it); on a read's `ok`, the version it saw, `0` or `null` meaning
///   never written — required. Elsewhere it may be left out; on a write's completion it must
///   match the invoke if given.
/// * Any other key (a timestamp, a node) is ignored.
///
/// Times are line numbers, so explanations cite lines.
public enum LisHistory {
    /// Parses `text`; errors name the line.
    public static func parse(_ text: String) throws(HistoryParseError) -> [BlockOperation] {
        var operations: [BlockOperation?] = []
        var open: [String: (index: Int, line: Int)] = [:]

        for (number, line) in text.numberedLines {
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            func fail(_ message: String) -> HistoryParseError { HistoryParseError(line: number, message: message) }

            let parsed: JSONValue
            do throws(JSONReader.Failure) {
                parsed = try JSONReader.parse(line)
            } catch {
                throw fail("invalid JSON: \(error.message)")
            }
            guard case .object(let object) = parsed else { throw fail("expected a JSON object, got \(parsed.kind)") }
            let event = Event(object: object, fail: fail)

            let process = try event.process()
            let type = try event.requiredString("type")
            if type == "invoke" {
                if let previous = open[process] {
                    throw fail("process \(process) invokes while its operation from line \(previous.line) is still open")
                }
                let address = BlockAddress(volume: try event.requiredString("volume"), block: try event.block())
                let action: BlockModel.Action
                switch try event.requiredString("op") {
                case "read":
                    guard try event.optionalInteger("value") == nil else { throw fail("a read's invoke has no value") }
                    action = .read
                case "write":
                    guard let version = try event.optionalInteger("value") else { throw fail("a write's invoke needs an integer \"value\"") }
                    guard version != 0 else { throw fail("a write's value must not be 0, which means never written") }
                    action = .write(version: version)
                case let other:
                    throw fail("unknown op \"\(other)\"; expected read or write")
                }
                open[process] = (operations.count, number)
                operations.append(BlockOperation(
                    process: process, input: .init(address: address, action: action), output: .unknown, callTime: number, returnTime: nil))
                continue
            }

            guard ["ok", "fail", "info"].contains(type) else {
                throw fail("unknown type \"\(type)\"; expected invoke, ok, fail or info")
            }
            guard let (index, invokeLine) = open.removeValue(forKey: process) else {
                throw fail("process \(process) completes (\(type)) with no operation in progress")
            }
            let input = operations[index]!.input
            try event.mustMatch(input, invokeLine: invokeLine)
            switch (type, input.action) {
            case ("ok", .read):
                guard event.has("value") else { throw fail("a read's ok needs \"value\" (null if the block was never written)") }
                operations[index]!.output = .read(version: try event.optionalInteger("value") ?? 0)
                operations[index]!.returnTime = number
            case ("ok", .write):
                operations[index]!.output = .written
                operations[index]!.returnTime = number
            case ("fail", _):
                operations[index] = nil
            default:
                break  // info: pending to the end.
            }
        }
        return operations.compactMap { $0 }
    }

    /// One line's members, with typed accessors whose errors name the key.
    private struct Event {
        let object: [String: JSONValue]
        let fail: (String) -> HistoryParseError

        func has(_ key: String) -> Bool { object[key] != nil }

        func requiredString(_ key: String) throws(HistoryParseError) -> String {
            switch object[key] {
            case .string(let text): return text
            case nil: throw fail("missing \"\(key)\"")
            case let other?: throw fail("\"\(key)\" must be a string, got \(other.kind)")
            }
        }

        func process() throws(HistoryParseError) -> String {
            if case .number(let literal) = object["process"], Int(literal) != nil { return literal }
            return try requiredString("process")
        }

        /// An integer or null; absent is nil.
        func optionalInteger(_ key: String) throws(HistoryParseError) -> Int? {
            switch object[key] {
            case nil, .null?: return nil
            case .number(let literal)?:
                guard let value = Int(literal) else { throw fail("\"\(key)\" must be a 64-bit integer, got \(literal)") }
                return value
            case let other?: throw fail("\"\(key)\" must be an integer or null, got \(other.kind)")
            }
        }

        func block() throws(HistoryParseError) -> UInt64 {
            guard case .number(let literal)? = object["block"] else {
                throw fail(object["block"] == nil ? "missing \"block\"" : "\"block\" must be an integer, got \(object["block"]!.kind)")
            }
            guard let block = UInt64(literal) else { throw fail("\"block\" must be an integer ≥ 0, got \(literal)") }
            return block
        }

        /// A completion's `op`, `volume`, `block` and (for writes) `value` repeat the invoke's.
        func mustMatch(_ input: BlockModel.Input, invokeLine: Int) throws(HistoryParseError) {
            let op: String
            switch input.action {
            case .read: op = "read"
            case .write(let version):
                op = "write"
                if has("value"), try optionalInteger("value") != version {
                    throw fail("\"value\" differs from the write invoked on line \(invokeLine) (\(version))")
                }
            }
            if has("op"), try requiredString("op") != op { throw fail("\"op\" differs from the \(op) invoked on line \(invokeLine)") }
            if has("volume"), try requiredString("volume") != input.address.volume {
                throw fail("\"volume\" differs from the invoke on line \(invokeLine) (\(input.address.volume))")
            }
            if has("block"), try block() != input.address.block {
                throw fail("\"block\" differs from the invoke on line \(invokeLine) (\(input.address.block))")
            }
        }
    }
}
