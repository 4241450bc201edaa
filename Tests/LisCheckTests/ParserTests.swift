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

    @Test func jepsenLineWithoutTabsIsAnError() {
        #expect(throws: HistoryParseError(line: 2, message: "expected 4 tab-separated fields (PROCESS, :type, :f, value), found 1")) {
            try JepsenHistory.parse("INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0 :ok :read nil")
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
