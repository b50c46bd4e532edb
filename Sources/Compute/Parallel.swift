import Dispatch

/// Splits `0..<count` into at most `threads` contiguous chunks and runs them concurrently.
///
/// `body` gets the chunk's worker index (0..<threads, for per-thread scratch) and range.
/// Each chunk is processed by exactly one thread and chunk boundaries depend only on
/// `count` and `threads`, so work that writes disjoint outputs is deterministic.
public func parallelChunks(_ count: Int, threads: Int, _ body: (_ worker: Int, _ range: Range<Int>) -> Void) {
    let workers = max(1, min(threads, count))
    if workers == 1 {
        if count > 0 { body(0, 0..<count) }
        return
    }
    // concurrentPerform wants a @Sendable closure; `body` is not one, since callers hand it
    // pointers into their own buffers. Sharing it is safe: concurrentPerform returns only
    // after every chunk has run, and chunks write disjoint outputs (the contract above).
    nonisolated(unsafe) let body = body
    DispatchQueue.concurrentPerform(iterations: workers) { w in
        let lower = count * w / workers
        let upper = count * (w + 1) / workers
        if lower < upper { body(w, lower..<upper) }
    }
}

/// Like `parallelChunks` over `count` elements, but stays on the calling thread when there
/// are fewer than `grain` elements per thread (waking a thread costs ~10 µs), and keeps
/// chunk boundaries on multiples of 8 so SIMD blocks never straddle two threads.
public func parallelElements(_ count: Int, threads: Int, grain: Int = 16_384, _ body: (_ range: Range<Int>) -> Void) {
    let workers = max(1, min(threads, count / grain))
    let blocks = (count + 7) / 8
    parallelChunks(blocks, threads: workers) { _, range in
        body((range.lowerBound * 8)..<min(count, range.upperBound * 8))
    }
}
