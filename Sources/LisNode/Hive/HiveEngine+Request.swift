import LisCore

extension HiveEngine {
    /// Carries out a core's Hive call (`NodeIO`'s `HiveRequest`) and returns the answer the core
    /// expects. A refusal (pinning) or a failure becomes `.unavailable` with the reason, as
    /// the simulator's Hive answers it.
    public func answer(_ request: HiveRequest) async -> HiveResponse {
        switch request {
        case .get(let key):
            do {
                return .record(key, try await get(key))
            } catch {
                return .unavailable(key, reason: error.description)
            }
        case .compareAndSet(let key, let expected, let new):
            do {
                let (ok, current) = try await compareAndSet(key, expected: expected, new: new)
                return .swapped(key, ok: ok, current: current)
            } catch {
                return .unavailable(key, reason: error.description)
            }
        }
    }
}
