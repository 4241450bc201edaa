import LisCore
import Testing

@Suite struct ByteSizeTests {
    @Test(arguments: [
        ("0", 0),
        ("4096", 4096),
        ("512B", 512),
        ("512b", 512),
        ("64K", 64 << 10),
        ("64k", 64 << 10),
        ("64KiB", 64 << 10),
        ("64 KiB", 64 << 10),
        ("1M", 1 << 20),
        ("1mib", 1 << 20),
        ("1G", 1 << 30),
        ("1gib", 1 << 30),
        ("1GIB", 1 << 30),
        ("2T", 2 << 40),
        ("2 tib", 2 << 40),
        ("1.5G", 3 << 29),
        ("1.5K", 1536),
        ("0.5K", 512),
        ("1.0", 1),
        ("1.25M", 1_310_720),
        // 1 TiB + 1 byte: exact even with 40 decimal places.
        ("1.0000000000009094947017729282379150390625T", (1 << 40) + 1),
        ("18446744073709551615", UInt64.max),
        ("16777215.9999999999990905052982270717620849609375T", UInt64.max),
    ] as [(String, UInt64)])
    func parsesValidSizes(text: String, bytes: UInt64) throws {
        #expect(try ByteSize.parse(text) == bytes)
    }

    @Test(arguments: [
        ("", "empty"),
        ("-1", "cannot be negative"),
        ("-1G", "cannot be negative"),
        ("1X", "unknown unit \"X\""),
        ("1KB", "unknown unit \"KB\""),
        ("1P", "unknown unit \"P\""),
        ("G", "not a size"),
        (".5G", "not a size"),
        ("1.G", "decimal point needs digits"),
        ("1 ", "space must be followed by a unit"),
        ("1  G", "not a size"),
        (" 1G", "not a size"),
        ("1G ", "not a size"),
        ("1.2.3", "not a size"),
        ("+1", "not a size"),
        ("0x10", "not a size"),
        ("1.5", "not a whole number of bytes"),
        ("1.3K", "not a whole number of bytes"),
        ("18446744073709551616", "too large"),
        ("16777216T", "too large"),
        ("16777215.9999999T", "not a whole number"),
        ("99999999999999999999999K", "too large"),
    ])
    func rejectsInvalidSizes(text: String, reason: String) {
        #expect {
            try ByteSize.parse(text)
        } throws: { error in
            guard let error = error as? SizeError else { return false }
            return error.text == text && error.reason.contains(reason)
        }
    }

    @Test func unknownUnitMessageSaysWhatIsAllowed() {
        let expected = SizeError(
            text: "1X",
            reason: #"unknown unit "X"; use a number of bytes or a number with K, M, G, T (or KiB, MiB, GiB, TiB)"#)
        #expect(throws: expected) { try ByteSize.parse("1X") }
        #expect(expected.description == #""1X": "# + expected.reason)
    }

    @Test(arguments: [
        (0, "0B"),
        (1, "1B"),
        (1000, "1000B"),
        (1024, "1KiB"),
        (1536, "1536B"),
        (64 << 10, "64KiB"),
        (1 << 20, "1MiB"),
        (3 << 29, "1536MiB"),
        (1 << 30, "1GiB"),
        (5 << 40, "5TiB"),
        (1 << 50, "1024TiB"),
        (UInt64.max, "18446744073709551615B"),
    ] as [(UInt64, String)])
    func formatsShortestExactForm(bytes: UInt64, text: String) {
        #expect(ByteSize.format(bytes) == text)
    }

    @Test func formatRoundTrips() throws {
        // Values on and around every unit boundary, where an off-by-one in either direction shows.
        var values: [UInt64] = [0, UInt64.max]
        for shift in 0..<64 {
            let power = UInt64(1) << shift
            values += [power, power - 1, power + 1, power + power / 2]
        }
        for value in values {
            #expect(try ByteSize.parse(ByteSize.format(value)) == value, "\(value)")
        }
    }
}
