import Dispatch
import Foundation

/// Splits `count` items into consecutive ranges of `chunk`, and for each range reads its input
/// with `prepare` (on the calling thread, in order: readers need not be thread-safe), computes
/// `work` on up to `threads` ranges at once, and hands the results to `consume` in order, so
/// outputs and statistics come out as a one-thread run makes them. At most `threads` ranges are in
/// flight, so memory grows with the thread count, not with `count`. The first error stops the
/// run and is rethrown.
public func inOrderParallel<Input: Sendable, Output>(
    count: Int, chunk: Int, threads: Int,
    prepare: (Range<Int>) throws -> Input,
    work: @escaping @Sendable (Input) throws -> Output,
    consume: (Range<Int>, Input, Output) throws -> Void
) throws {
    let size = max(1, chunk)
    let ranges = stride(from: 0, to: count, by: size).map { $0..<min(count, $0 + size) }
    let width = max(1, threads)
    var wave = 0
    while wave < ranges.count {
        let batch = Array(ranges[wave..<min(ranges.count, wave + width)])
        let inputs = try batch.map(prepare)
        let slots = ResultSlots<Output>(count: batch.count)
        if batch.count == 1 {
            slots.set(0, Result { try work(inputs[0]) })
        } else {
            DispatchQueue.concurrentPerform(iterations: batch.count) { i in
                slots.set(i, Result { try work(inputs[i]) })
            }
        }
        for i in batch.indices { try consume(batch[i], inputs[i], try slots.get(i).get()) }
        wave += batch.count
    }
}

/// One result per concurrent iteration, each written once by its own thread.
private final class ResultSlots<T>: @unchecked Sendable {
    private var values: [Result<T, Error>?]
    private let lock = NSLock()
    init(count: Int) { values = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ r: Result<T, Error>) { lock.lock(); values[i] = r; lock.unlock() }
    func get(_ i: Int) -> Result<T, Error> { lock.lock(); defer { lock.unlock() }; return values[i]! }
}

/// The default worker count: every core this process may use.
public var defaultThreadCount: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }
