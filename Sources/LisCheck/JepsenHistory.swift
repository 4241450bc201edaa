/// Reads Jepsen's textual cas-register histories (the `jepsen.util` log lines of the Jepsen
/// etcd test) into operations of `RegisterModel`.
///
/// Each non-blank line is `PREFIX PROCESS<TAB>:TYPE<TAB>:F<TAB>ARG`, where the process is the
/// last word before the first tab, `:TYPE` is `:invoke`, `:ok`, `:fail` or `:info`, `:F` is
/// `:read`, `:write` or `:cas`, and `ARG` is `nil`, an integer, `[from to]` or a keyword such
/// as `:timed-out`. Times are line numbers. How completions are read (the reading under which
/// the reference verdicts were computed):
/// * `:ok` completes the process's operation with its result (for a read, the value seen);
/// * `:fail :cas [from to]` completes the cas with a definite "did not swap";
/// * `:fail :read :timed-out` completes the read with an unknown result;
/// * any other `:fail` and every `:info` leave the operation pending to the end of the history
///   (it may take effect at any time after its call, or never) and free the process id;
/// * an operation with no completion line at all is pending too.
///
/// A process MUST NOT invoke while its previous operation is still open; that is an error.
public enum JepsenHistory {
    /// Parses `text`; errors name the line.
    public static func parse(_ text: String) throws(HistoryParseError) -> [Operation<RegisterModel.Input, RegisterModel.Output>] {
        var operations: [Operation<RegisterModel.Input, RegisterModel.Output>] = []
        // Process → (index of its open operation, line of its invoke).
        var open: [Substring: (index: Int, line: Int)] = [:]

        for (number, line) in text.numberedLines {
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            func fail(_ message: String) -> HistoryParseError { HistoryParseError(line: number, message: message) }

            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count == 4 else {
                throw fail("expected 4 tab-separated fields (PROCESS, :type, :f, value), found \(fields.count)")
            }
            guard let process = fields[0].split(separator: " ").last else { throw fail("missing process id before the first tab") }
            let type = fields[1].trimmed, function = fields[2].trimmed, argument = fields[3].trimmed
            guard [":read", ":write", ":cas"].contains(function) else {
                throw fail("unknown operation '\(function)'; expected :read, :write or :cas")
            }

            if type == ":invoke" {
                if let previous = open[process] {
                    throw fail("process \(process) invokes while its operation from line \(previous.line) is still open")
                }
                let input: RegisterModel.Input
                switch function {
                case ":read":
                    input = .read
                case ":write":
                    guard let value = Int(argument) else { throw fail("a write needs an integer value, got '\(argument)'") }
                    input = .write(value)
                default:
                    guard let (from, to) = parsePair(argument) else { throw fail("a cas needs [from to], got '\(argument)'") }
                    input = .cas(from: from, to: to)
                }
                open[process] = (operations.count, number)
                operations.append(Operation(process: String(process), input: input, output: .unknown, callTime: number, returnTime: nil))
                continue
            }

            guard [":ok", ":fail", ":info"].contains(type) else {
                throw fail("unknown event type '\(type)'; expected :invoke, :ok, :fail or :info")
            }
            guard let (index, invokeLine) = open.removeValue(forKey: process) else {
                throw fail("process \(process) completes (\(type)) with no operation in progress")
            }
            let invoked = operations[index].input
            guard function == invoked.jepsenFunction else {
                throw fail("process \(process) completes \(function) but invoked \(invoked.jepsenFunction) on line \(invokeLine)")
            }
            switch (type, invoked) {
            case (":ok", .read):
                guard let value = parseValue(argument) else { throw fail("a read returns nil or an integer, got '\(argument)'") }
                operations[index].output = .read(value)
                operations[index].returnTime = number
            case (":ok", _):
                operations[index].output = .done
                operations[index].returnTime = number
            case (":fail", .cas) where parsePair(argument) != nil:
                operations[index].output = .casFailed
                operations[index].returnTime = number
            case (":fail", .read) where argument == ":timed-out":
                operations[index].output = .unknown
                operations[index].returnTime = number
            default:
                // The outcome is unknown: pending to the end of the history.
                break
            }
        }
        return operations
    }

    /// `nil` → `.some(nil)`, an integer → its value, anything else → `nil`.
    private static func parseValue(_ text: Substring) -> Int?? {
        if text == "nil" { return .some(nil) }
        return Int(text).map { .some($0) }
    }

    /// `[from to]`.
    private static func parsePair(_ text: Substring) -> (Int, Int)? {
        guard text.first == "[", text.last == "]" else { return nil }
        let parts = text.dropFirst().dropLast().split(separator: " ")
        guard parts.count == 2, let from = Int(parts[0]), let to = Int(parts[1]) else { return nil }
        return (from, to)
    }
}

extension RegisterModel.Input {
    /// The Jepsen keyword of the operation: `:read`, `:write` or `:cas`.
    var jepsenFunction: String {
        switch self {
        case .read: ":read"
        case .write: ":write"
        case .cas: ":cas"
        }
    }
}

extension Substring {
    /// Without leading and trailing spaces and tabs.
    var trimmed: Substring {
        var result = self
        while let first = result.first, first == " " || first == "\t" { result.removeFirst() }
        while let last = result.last, last == " " || last == "\t" { result.removeLast() }
        return result
    }
}
