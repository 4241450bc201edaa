import Foundation
import LisCore

/// The distributions the built-in workloads draw from, written out over `SeededRandom` so a
/// seed gives the same trace wherever it runs (the standard library promises no algorithm for
/// its own random APIs).
extension BuiltInScenarios {
    /// True with probability `p`.
    static func chance(_ p: Double, _ random: inout SeededRandom) -> Bool { random.unit() < p }

    /// A uniform number of microseconds in `range` (both ends included).
    static func uniformUs(_ range: ClosedRange<UInt64>, _ random: inout SeededRandom) -> UInt64 {
        range.lowerBound + draw(&random, below: range.upperBound - range.lowerBound + 1)
    }

    /// The gap to the next arrival of a Poisson process with mean gap `meanUs`, by inversion
    /// (−mean · ln(1 − u)); at least 1 µs, so two arrivals of one source never share an instant.
    static func exponentialGapUs(meanUs: Double, _ random: inout SeededRandom) -> UInt64 {
        max(1, UInt64((-meanUs * log1p(-random.unit())).rounded()))
    }

    /// A standard normal deviate by Box–Muller, one per call (the sine twin is dropped so each
    /// call consumes exactly two draws, whatever came before).
    static func standardNormal(_ random: inout SeededRandom) -> Double {
        let radius = (-2 * log1p(-random.unit())).squareRoot()
        return radius * cos(2 * Double.pi * random.unit())
    }

    /// `values` in a uniformly random order (Fisher–Yates).
    static func shuffled<T>(_ values: [T], _ random: inout SeededRandom) -> [T] {
        var result = values
        for i in stride(from: result.count - 1, to: 0, by: -1) {
            let j = Int(draw(&random, below: UInt64(i + 1)))
            result.swapAt(i, j)
        }
        return result
    }

    /// Zipf's law over ranks `0..<count`: rank k has weight 1 / (k + 1)^exponent, so rank 0 is
    /// the most frequent. Sampled by inverting the cumulative weights with a binary search.
    struct Zipf: Sendable {
        /// `cumulative[k]` is the sum of the weights of ranks 0...k.
        let cumulative: [Double]

        init(count: Int, exponent: Double) {
            precondition(count > 0, "Zipf needs at least one rank")
            var sum = 0.0
            cumulative = (0..<count).map { k in
                sum += 1 / pow(Double(k + 1), exponent)
                return sum
            }
        }

        /// A rank: the first whose cumulative weight exceeds a uniform point in [0, total).
        func sample(_ random: inout SeededRandom) -> Int {
            let point = random.unit() * cumulative[cumulative.count - 1]
            var low = 0
            var high = cumulative.count - 1
            while low < high {
                let middle = (low + high) / 2
                if cumulative[middle] > point { high = middle } else { low = middle + 1 }
            }
            return low
        }
    }
}
