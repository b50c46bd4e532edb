/// A fixed-size, 64-byte aligned, zero-initialised block of `Float`s.
///
/// Activations, parameters and gradients live in these. It is a class so that a model's
/// caches can hand out stable pointers to kernels without copy-on-write surprises.
/// Unchecked Sendable because it is a bare pointer: the parallel kernels share one buffer across
/// threads, and each thread writes a disjoint range of it (`parallelChunks`' contract).
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    public init(count: Int) {
        precondition(count >= 0, "FloatBuffer count must be non-negative")
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { pointer.deallocate() }

    public subscript(index: Int) -> Float {
        get { pointer[index] }
        set { pointer[index] = newValue }
    }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }

    public func zero() { pointer.update(repeating: 0, count: count) }

    public func copy(from other: FloatBuffer) {
        precondition(other.count == count, "FloatBuffer.copy: \(other.count) floats into \(count)")
        pointer.update(from: other.pointer, count: count)
    }

    public func toArray() -> [Float] { Array(buffer) }
}
