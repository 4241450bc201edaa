/// Reads Jepsen's textual cas-register histories (the `jepsen.util` log lines of the Jepsen
/// etcd test) into operations of `RegisterModel`.
///
/// Each non-blank line is `PREFIX PROCESS :TYPE :F ARG`, its fields separated by any run of
/// spaces and tabs (Jepsen writes tabs, some versions spaces; Porcupine's parser reads `\s+`).
/// `:TYPE` is the first word that is `:invoke`, `:ok`, `:fail` or `:info` (failing that, the
/// first word that starts with `:`, reported as an unknown type); the process is the word before
/// it, anything before that is ignored. `:F` is `:read`, `:write` or `:cas`, and `ARG` is `nil`,
/// an integer, `[from to]` or a keyword such as `:timed-out`: one word, or one bracketed group
/// that may contain blanks (`[from to]`, `[[:r 1 nil]]`); nothing may follow it. Times are line
/// numbers. How completions are read (the reading under which the reference verdicts were
/// computed):
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
            let words = line.split(whereSeparator: \.isJepsenBlank)
            if words.isEmpty { continue }
            func fail(_ message: String) -> HistoryParseError { HistoryParseError(line: number, message: message) }

            let shape = "expected 4 fields (PROCESS, :type, :f, value) separated by spaces or tabs"
            guard let fields = Fields(line: line, words: words) else {
                throw fail("\(shape), found no :type (:invoke, :ok, :fail or :info)")
            }
            guard let process = fields.process else { throw fail("missing process id before '\(fields.type)'") }
            guard fields.count == 4, let function = fields.function, let argument = fields.argument else {
                throw fail("\(shape), found \(fields.count)")
            }
            let type = fields.type
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

    /// The fields of one line, found among its blank-separated words.
    private struct Fields {
        /// The word before the type, if any.
        var process: Substring?
        var type: Substring
        /// The word after the type, if any.
        var function: Substring?
        /// The words after the function up to the end of the value, blanks included, if any.
        var argument: Substring?
        /// How many fields there are from the process on (a bracketed value counts as one).
        var count: Int

        /// `nil` if no word can be the type.
        init?(line: Substring, words: [Substring]) {
            guard
                let typeIndex = words.firstIndex(where: { [":invoke", ":ok", ":fail", ":info"].contains($0) })
                    ?? words.firstIndex(where: { $0.first == ":" })
            else { return nil }
            process = typeIndex > 0 ? words[typeIndex - 1] : nil
            type = words[typeIndex]
            let functionIndex = typeIndex + 1, valueIndex = typeIndex + 2
            function = functionIndex < words.count ? words[functionIndex] : nil
            guard valueIndex < words.count else {
                count = words.count - typeIndex + 1
                return
            }
            // The value is one word, or the words up to the bracket that closes its first one
            // (to the end of the line if none does: the value's own parser then rejects it).
            var depth = 0, valueEnd = valueIndex
            for index in valueIndex..<words.count {
                valueEnd = index
                for character in words[index] {
                    if "[{(".contains(character) { depth += 1 } else if "]})".contains(character) { depth -= 1 }
                }
                if depth <= 0 { break }
            }
            argument = line[words[valueIndex].startIndex..<words[valueEnd].endIndex]
            count = 4 + (words.count - 1 - valueEnd)
        }
    }

    /// `nil` → `.some(nil)`, an integer → its value, anything else → `nil`.
    private static func parseValue(_ text: Substring) -> Int?? {
        if text == "nil" { return .some(nil) }
        return Int(text).map { .some($0) }
    }

    /// `[from to]`.
    private static func parsePair(_ text: Substring) -> (Int, Int)? {
        guard text.first == "[", text.last == "]" else { return nil }
        let parts = text.dropFirst().dropLast().split(whereSeparator: \.isJepsenBlank)
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

extension Character {
    /// A blank that separates the fields of a Jepsen history line: a space or a tab (or another
    /// ASCII blank: vertical tab, form feed, a stray carriage return), as `\s` in Porcupine's
    /// parser.
    var isJepsenBlank: Bool { self == " " || self == "\t" || self == "\u{0B}" || self == "\u{0C}" || self == "\r" }
}
