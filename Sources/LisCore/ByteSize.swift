/// Sizes written for people: `4096`, `64K`, `1.5GiB`, `512B`.
///
/// Units are binary (1024-based), as `qemu-img` reads them, and both spellings are accepted:
/// `K`, `M`, `G`, `T` and `KiB`, `MiB`, `GiB`, `TiB`, in any letter case, optionally after one
/// space. Decimal-looking units such as `KB` are refused rather than guessed: `1KB` means 1000
/// bytes to some tools and 1024 to others, and a block size off by 2.4% is a silent mess.
public enum ByteSize {
    /// The bytes in `text`, or why `text` is not a size.
    ///
    /// A fraction is allowed when the result is a whole number of bytes (`1.5K` is 1536 bytes,
    /// `1.3K` is an error), so that a size never depends on rounding.
    public static func parse(_ text: String) throws(SizeError) -> UInt64 {
        let fail = { (reason: String) in SizeError(text: text, reason: reason) }
        if text.isEmpty { throw fail("empty; \(allowedForms)") }
        if text.hasPrefix("-") { throw fail("a size cannot be negative") }

        var rest = Substring(text)
        let whole = rest.prefix(while: \.isASCIIDigit)
        rest = rest.dropFirst(whole.count)
        var fraction = Substring()
        if rest.first == "." {
            fraction = rest.dropFirst().prefix(while: \.isASCIIDigit)
            rest = rest.dropFirst(1 + fraction.count)
            if fraction.isEmpty { throw fail("a decimal point needs digits after it; \(allowedForms)") }
        }
        if whole.isEmpty { throw fail("not a size; \(allowedForms)") }
        if rest.first == " " {
            rest = rest.dropFirst()
            if rest.isEmpty { throw fail("a space must be followed by a unit; \(allowedForms)") }
        }
        if !rest.allSatisfy(\.isASCIILetter) { throw fail("not a size; \(allowedForms)") }
        guard let unitBytes = unitBytes(String(rest)) else {
            throw fail("unknown unit \"\(rest)\"; \(allowedForms)")
        }

        let tooLarge = fail("too large; the largest size is \(UInt64.max) bytes")
        guard let wholeValue = UInt64(whole) else { throw tooLarge }
        let (wholeBytes, wholeOverflow) = wholeValue.multipliedReportingOverflow(by: unitBytes)
        if wholeOverflow { throw tooLarge }
        guard let fractionBytes = exactFractionBytes(fraction, unitBytes: unitBytes) else {
            throw fail("not a whole number of bytes; use fewer decimal places or a smaller unit")
        }
        let (total, totalOverflow) = wholeBytes.addingReportingOverflow(fractionBytes)
        if totalOverflow { throw tooLarge }
        return total
    }

    /// The shortest exact spelling of `bytes` in the largest binary unit that divides it:
    /// `1GiB`, `64KiB`, `1000B`. `parse(format(n)) == n` for every `n`.
    public static func format(_ bytes: UInt64) -> String {
        for (suffix, unit) in units.reversed() where bytes != 0 && bytes % unit == 0 {
            return "\(bytes / unit)\(suffix)"
        }
        return "\(bytes)B"
    }

    /// What the parser accepts, for error messages.
    static let allowedForms =
        "use a number of bytes or a number with K, M, G, T (or KiB, MiB, GiB, TiB)"

    /// The binary units in increasing order, with the suffix `format` writes.
    private static let units: [(suffix: String, bytes: UInt64)] = [
        ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40),
    ]

    /// Bytes per `unit`, or nil if `unit` is not one; "" and "B" are single bytes.
    private static func unitBytes(_ unit: String) -> UInt64? {
        switch unit.lowercased() {
        case "", "b": return 1
        case "k", "kib": return 1 << 10
        case "m", "mib": return 1 << 20
        case "g", "gib": return 1 << 30
        case "t", "tib": return 1 << 40
        default: return nil
        }
    }

    /// `0.<digits> × unitBytes` when that is a whole number, else nil.
    ///
    /// Multiplies the decimal digits by the unit from the right, like long multiplication on
    /// paper, so any number of digits is exact; the result is whole when every digit left
    /// behind the point is zero. The carry stays below `10 × unitBytes`, far from overflow.
    private static func exactFractionBytes(_ digits: Substring, unitBytes: UInt64) -> UInt64? {
        var carry: UInt64 = 0
        for digit in digits.reversed() {
            let product = UInt64(digit.asciiValue! - 0x30) * unitBytes + carry
            if product % 10 != 0 { return nil }
            carry = product / 10
        }
        return carry
    }
}

/// Why a string is not a size, with the forms that are allowed.
public struct SizeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The text that failed to parse, as given.
    public var text: String
    /// What is wrong with it and, where it helps, what to write instead.
    public var reason: String

    public init(text: String, reason: String) {
        self.text = text
        self.reason = reason
    }

    public var description: String { "\"\(text)\": \(reason)" }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
    fileprivate var isASCIILetter: Bool { isASCII && isLetter }
}
