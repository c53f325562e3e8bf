import Synchronization

/// One pass per key at a time: a caller arriving while a pass runs joins the pass queued after it
/// (at most one is queued), so a burst of pushes for one mailbox costs two passes, not one each —
/// and every caller's change is covered by the pass it waits for, which starts after it arrived.
final class SinglePass<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Slot {
        var current: Task<Value, any Error>
        var queued: Task<Value, any Error>?
    }

    private let slots = Mutex<[Key: Slot]>([:])
    private let callers = Mutex<[Key: Int]>([:])

    init() {}

    /// Callers waiting for a pass of `key` now.
    func waiting(for key: Key) -> Int { callers.withLock { $0[key] ?? 0 } }

    func run(_ key: Key, _ body: @escaping @Sendable () async throws -> Value) async throws -> Value {
        callers.withLock { $0[key, default: 0] += 1 }
        defer { callers.withLock { $0[key]! -= 1; if $0[key] == 0 { $0[key] = nil } } }
        let task = slots.withLock { slots -> Task<Value, any Error> in
            guard var slot = slots[key] else {
                let task = start(key, after: nil, body)
                slots[key] = Slot(current: task)
                return task
            }
            if let queued = slot.queued { return queued }
            let queued = start(key, after: slot.current, body)
            slot.queued = queued
            slots[key] = slot
            return queued
        }
        return try await task.value
    }

    private func start(_ key: Key, after previous: Task<Value, any Error>?, _ body: @escaping @Sendable () async throws -> Value) -> Task<Value, any Error> {
        Task {
            if let previous {
                _ = await previous.result
                slots.withLock { slots in  // this pass is the current one now
                    if let queued = slots[key]?.queued { slots[key] = Slot(current: queued) }
                }
            }
            defer {
                slots.withLock { slots in  // the last pass of a burst clears the key
                    if slots[key]?.queued == nil { slots[key] = nil }
                }
            }
            return try await body()
        }
    }
}
