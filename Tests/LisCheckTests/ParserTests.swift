import LisCheck
import Testing

/// The two history formats: what each line means, and errors that name the line.
@Suite struct ParserTests {
    @Test func jepsenLinesBecomeOperations() throws {
        let history = try JepsenHistory.parse("""
            INFO  jepsen.util - 0\t:invoke\t:write\t4
            INFO  jepsen.util - 1\t:invoke\t:cas\t[4 -2]
            INFO  jepsen.util - 0\t:ok\t:write\t4

            INFO  jepsen.util - 1\t:fail\t:cas\t[4 -2]
            INFO  jepsen.util - 2\t:invoke\t:read\tnil
            INFO  jepsen.util - 2\t:info\t:read\t:timed-out
            INFO  jepsen.util - 2\t:invoke\t:read\tnil
            INFO  jepsen.util - 2\t:ok\t:read\tnil
            INFO  jepsen.util - 3\t:invoke\t:cas\t[1 2]

            """)
        #expect(history == [
            RegisterOperation(process: "0", input: .write(4), output: .done, callTime: 1, returnTime: 3),
            RegisterOperation(process: "1", input: .cas(from: 4, to: -2), output: .casFailed, callTime: 2, returnTime: 5),
            RegisterOperation(process: "2", input: .read, output: .unknown, callTime: 6, returnTime: nil),
            RegisterOperation(process: "2", input: .read, output: .read(nil), callTime: 8, returnTime: 9),
            RegisterOperation(process: "3", input: .cas(from: 1, to: 2), output: .unknown, callTime: 10, returnTime: nil),
        ])
    }

    @Test func jepsenCompletionsFollowTheReferenceReading() throws {
        let history = try jepsen("""
            0 :invoke :read nil
            0 :fail :read :timed-out
            1 :invoke :write 1
            1 :fail :write :timed-out
            2 :invoke :cas [1 2]
            2 :info :cas :timed-out
            3 :invoke :read nil
            3 :fail :read :other
            4 :invoke :cas [1 2]
            4 :fail :cas :timed-out
            """)
        #expect(history.map(\.returnTime) == [2, nil, nil, nil, nil])
        #expect(history.map(\.output) == [.unknown, .unknown, .unknown, .unknown, .unknown])
    }

    @Test(arguments: [
        ("0 :invoke :read nil\n0 :invoke :read nil", "line 2: process 0 invokes while its operation from line 1 is still open"),
        ("0 :invoke :read nil\n1 :ok :read 3", "line 2: process 1 completes (:ok) with no operation in progress"),
        ("0 :invoke :write x", "line 1: a write needs an integer value, got 'x'"),
        ("0 :invoke :cas [1]", "line 1: a cas needs [from to], got '[1]'"),
        ("0 :invoke :append 1", "line 1: unknown operation ':append'; expected :read, :write or :cas"),
        ("0 :invoke :read nil\n0 :done :read 1", "line 2: unknown event type ':done'; expected :invoke, :ok, :fail or :info"),
        ("0 :invoke :read nil\n0 :ok :write 1", "line 2: process 0 completes :write but invoked :read on line 1"),
        ("0 :invoke :read nil\n0 :ok :read one", "line 2: a read returns nil or an integer, got 'one'"),
    ])
    func jepsenErrorsNameTheLine(script: String, message: String) {
        #expect(throws: HistoryParseError.self) { try jepsen(script) }
        do {
            _ = try jepsen(script)
        } catch {
            #expect("\(error)" == message)
        }
    }

    /// A history in Jepsen's tab-separated format; `reseparated` rewrites its blanks.
    static let tabSeparated = """
        INFO  jepsen.util - 0\t:invoke\t:write\t1
        INFO  jepsen.util - 0\t:ok\t:write\t1
        INFO  jepsen.util - 1\t:invoke\t:cas\t[1 2]
        INFO  jepsen.util - 2\t:invoke\t:read\tnil
        INFO  jepsen.util - 1\t:ok\t:cas\t[1 2]
        INFO  jepsen.util - 2\t:ok\t:read\t1
        INFO  jepsen.util - 3\t:invoke\t:cas\t[3 4]
        INFO  jepsen.util - 3\t:fail\t:cas\t[3 4]
        INFO  jepsen.util - 4\t:invoke\t:write\t-3
        INFO  jepsen.util - 4\t:info\t:write\t:timed-out
        INFO  jepsen.util - 5\t:invoke\t:read\tnil
        INFO  jepsen.util - 5\t:ok\t:read\t1
        """

    /// `text` with every run of spaces and tabs replaced by the next of `separators`, in turn.
    static func reseparated(_ text: String, _ separators: [String]) -> String {
        var result = "", inRun = false, next = 0
        for character in text {
            if character == " " || character == "\t" {
                if !inRun { result += separators[next % separators.count]; next += 1 }
                inRun = true
            } else {
                result.append(character)
                inRun = false
            }
        }
        return result
    }

    @Test(arguments: [
        ("tabs", tabSeparated),
        ("single spaces", reseparated(tabSeparated, [" "])),
        ("mixed runs of spaces and tabs", reseparated(tabSeparated, ["  ", " \t", "\t\t", "\t ", " ", "\t", "   \t  "])),
        ("blanks around each line", tabSeparated.split(separator: "\n").map { " \t" + $0 + "\t " }.joined(separator: "\n")),
    ])
    func jepsenFieldsAreSeparatedByAnyRunOfBlanks(_ format: String, _ text: String) throws {
        #expect(format == "tabs" || text != Self.tabSeparated, "\(format): the blanks were not rewritten")
        let history = try JepsenHistory.parse(text)
        #expect(history == [
            RegisterOperation(process: "0", input: .write(1), output: .done, callTime: 1, returnTime: 2),
            RegisterOperation(process: "1", input: .cas(from: 1, to: 2), output: .done, callTime: 3, returnTime: 5),
            RegisterOperation(process: "2", input: .read, output: .read(1), callTime: 4, returnTime: 6),
            RegisterOperation(process: "3", input: .cas(from: 3, to: 4), output: .casFailed, callTime: 7, returnTime: 8),
            RegisterOperation(process: "4", input: .write(-3), output: .unknown, callTime: 9, returnTime: nil),
            RegisterOperation(process: "5", input: .read, output: .read(1), callTime: 11, returnTime: 12),
        ], "\(format)")
        // The read on line 11 starts after the cas [1 2] returned; it may see only 2 or the
        // pending -3, so the history is not linearizable, whatever the separators.
        let verdict = LinearizabilityChecker.check(model: RegisterModel(), history: history)
        let tabVerdict = LinearizabilityChecker.check(model: RegisterModel(), history: try JepsenHistory.parse(Self.tabSeparated))
        #expect(verdict.isNotLinearizable, "\(format): \(verdict)")
        #expect(verdict == tabVerdict, "\(format)")
    }

    /// The reference logs with their tabs turned into single spaces read the same.
    @Test func jepsenReferenceLogsReadTheSameWithSpaces() throws {
        try #require(TestData.references.count == 70)
        for reference in TestData.references {
            let text = try TestData.jepsenText(reference.file)
            let spaced = String(text.map { $0 == "\t" ? " " : $0 })
            #expect(spaced != text && !spaced.contains("\t"), "\(reference.file)")
            #expect(try JepsenHistory.parse(spaced) == JepsenHistory.parse(text), "\(reference.file)")
        }
    }

    /// The start of the error for a line that is not four fields.
    static let shape = "line 1: expected 4 fields (PROCESS, :type, :f, value) separated by spaces or tabs, found "

    @Test(arguments: [
        ("INFO  jepsen.util - 0\t:invoke\t:read", shape + "3"),
        ("INFO  jepsen.util - 0 :invoke :read", shape + "3"),
        ("INFO  jepsen.util - 0 :invoke", shape + "2"),
        ("INFO  jepsen.util - 0\t:invoke\t:write\t1\t2", shape + "5"),
        ("INFO  jepsen.util - 0 :invoke :read nil nil", shape + "5"),
        ("INFO  jepsen.util - 0 \t :invoke  :cas [1 2]  3 4", shape + "6"),
        ("INFO  jepsen.util - 0 invoke read nil", shape + "no :type (:invoke, :ok, :fail or :info)"),
        (":invoke :read nil", "line 1: missing process id before ':invoke'"),
        ("INFO  jepsen.util - 0  :invoke :cas [1 2 3]", "line 1: a cas needs [from to], got '[1 2 3]'"),
        ("INFO  jepsen.util - 0 :invoke :cas [1 2", "line 1: a cas needs [from to], got '[1 2'"),
        ("INFO  jepsen.util - 0 :invoke :cas [1\t 2] ]", shape + "5"),
        ("INFO  jepsen.util - 0 :invoke :txn [[:r 1 nil] [:w 1 2]]", "line 1: unknown operation ':txn'; expected :read, :write or :cas"),
        ("INFO  jepsen.util - :nemesis :info :start nil", "line 1: unknown operation ':start'; expected :read, :write or :cas"),
        ("\n0  :invoke  :read  nil\n0 :done :read 1", "line 3: unknown event type ':done'; expected :invoke, :ok, :fail or :info"),
        ("0 :invoke :read nil\n0 :ok :read [1 2]", "line 2: a read returns nil or an integer, got '[1 2]'"),
    ])
    func jepsenMalformedLinesAreErrorsWhateverTheBlanks(text: String, message: String) {
        do {
            let history = try JepsenHistory.parse(text)
            Issue.record("parsed: \(history)")
        } catch {
            #expect(error.description == message)
        }
    }

    @Test func lisLinesBecomeOperations() throws {
        let history = try LisHistory.parse("""
            {"process": "c1", "type": "invoke", "op": "write", "volume": "vm1", "block": 7, "value": 42}
            {"process": "c2", "type": "invoke", "op": "read", "volume": "vm1", "block": 7, "time_us": 17}
            {"process": "c1", "type": "ok", "op": "write", "volume": "vm1", "block": 7, "value": 42}\r
            {"process": "c2", "type": "ok", "op": "read", "volume": "vm1", "block": 7, "value": 42}

              {"type":"invoke","process":3,"op":"read","volume":"v\\u00e9\\"x\\"","block":0,"value":null}
            {"process": 3, "type": "ok", "value": null}
            {"process": "c1", "type": "invoke", "op": "write", "volume": "vm1", "block": 8, "value": 43}
            {"process": "c1", "type": "fail"}
            {"process": "c1", "type": "invoke", "op": "write", "volume": "vm1", "block": 8, "value": 44}
            {"process": "c1", "type": "info", "extra": {"nested": [1, 2.5e3, true]}}
            {"process": "c2", "type": "invoke", "op": "read", "volume": "vm1", "block": 8}
            """)
        let seven = BlockAddress(volume: "vm1", block: 7), eight = BlockAddress(volume: "vm1", block: 8)
        #expect(history == [
            BlockOperation(process: "c1", input: .init(address: seven, action: .write(version: 42)), output: .written, callTime: 1, returnTime: 3),
            BlockOperation(process: "c2", input: .init(address: seven, action: .read), output: .read(version: 42), callTime: 2, returnTime: 4),
            BlockOperation(
                process: "3", input: .init(address: BlockAddress(volume: "vé\"x\"", block: 0), action: .read), output: .read(version: 0),
                callTime: 6, returnTime: 7),
            BlockOperation(process: "c1", input: .init(address: eight, action: .write(version: 44)), output: .unknown, callTime: 10, returnTime: nil),
            BlockOperation(process: "c2", input: .init(address: eight, action: .read), output: .unknown, callTime: 12, returnTime: nil),
        ])
    }

    static let invoke = #"{"process": "c1", "type": "invoke", "op": "read", "volume": "v", "block": 1}"#

    @Test(arguments: [
        (#"{"process": "c1", "type": "invoke", "op": "read", "volume": "v", "block": 1"#,
         #"line 1: invalid JSON: unexpected end of line, expected ',' or '}' (at column 76)"#),
        ("\(invoke)\n[1, 2]", "line 2: expected a JSON object, got an array"),
        ("\(invoke)\n\(invoke)", "line 2: process c1 invokes while its operation from line 1 is still open"),
        (#"{"process": "c1", "type": "ok", "value": 1}"#, "line 1: process c1 completes (ok) with no operation in progress"),
        (#"{"process": "c1", "op": "read"}"#, #"line 1: missing "type""#),
        (#"{"type": "invoke"}"#, #"line 1: missing "process""#),
        (#"{"process": "c1", "type": "start"}"#, #"line 1: unknown type "start"; expected invoke, ok, fail or info"#),
        (#"{"process": "c1", "type": "invoke", "op": "trim", "volume": "v", "block": 1}"#, #"line 1: unknown op "trim"; expected read or write"#),
        (#"{"process": "c1", "type": "invoke", "op": "read", "volume": "v"}"#, #"line 1: missing "block""#),
        (#"{"process": "c1", "type": "invoke", "op": "read", "volume": "v", "block": -1}"#, #"line 1: "block" must be an integer ≥ 0, got -1"#),
        (#"{"process": "c1", "type": "invoke", "op": "read", "volume": 5, "block": 1}"#, #"line 1: "volume" must be a string, got a number"#),
        (#"{"process": "c1", "type": "invoke", "op": "write", "volume": "v", "block": 1}"#, #"line 1: a write's invoke needs an integer "value""#),
        (#"{"process": "c1", "type": "invoke", "op": "write", "volume": "v", "block": 1, "value": 0}"#,
         "line 1: a write's value must not be 0, which means never written"),
        (#"{"process": "c1", "type": "invoke", "op": "write", "volume": "v", "block": 1, "value": 1.5}"#,
         #"line 1: "value" must be a 64-bit integer, got 1.5"#),
        ("\(invoke)\n" + #"{"process": "c1", "type": "ok"}"#, #"line 2: a read's ok needs "value" (null if the block was never written)"#),
        ("\(invoke)\n" + #"{"process": "c1", "type": "ok", "op": "write", "value": 1}"#, #"line 2: "op" differs from the read invoked on line 1"#),
        ("\(invoke)\n" + #"{"process": "c1", "type": "ok", "block": 2, "value": 1}"#, #"line 2: "block" differs from the invoke on line 1 (1)"#),
        ("\(invoke)\n" + #"{"process": "c1", "type": "ok", "value": "1"}"#, #"line 2: "value" must be an integer or null, got a string"#),
        ("\n\n" + #"{"process": "c1", "process": "c2"}"#, #"line 3: invalid JSON: duplicate key "process" (at column 34)"#),
    ])
    func lisErrorsNameTheLine(text: String, message: String) {
        do {
            _ = try LisHistory.parse(text)
            Issue.record("parsed: \(text)")
        } catch {
            #expect(error.description == message)
        }
    }

    @Test(arguments: [
        "", "{", #"{"a" 1}"#, #"{"a": tru}"#, #"{"a": "\x"}"#, #"{"a": "\ud800"}"#, #"{"a": 01}"#, #"{"a": 1.}"#,
        #"{"a": [1,]}"#, #"{"a": 1} x"#, "{\"a\": \"\u{01}\"}", String(repeating: "[", count: 100),
    ])
    func malformedJSONIsAnErrorNotACrash(text: String) {
        #expect(throws: HistoryParseError.self) { try LisHistory.parse("\n" + text + (text.isEmpty ? "x" : "")) }
    }
}
