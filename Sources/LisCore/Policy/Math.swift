#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The C math library's functions the policies use, and nothing else of the C library: the
/// core does no I/O (LayeringTests allows this one file to import it).
enum Math {
    static func logBase10(_ x: Double) -> Double { log10(x) }
    static func logOnePlus(_ x: Double) -> Double { log1p(x) }
    static func power(_ x: Double, _ y: Double) -> Double { pow(x, y) }
}
