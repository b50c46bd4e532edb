import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A safetensors file, memory-mapped read-only.
///
/// Layout: an 8-byte little-endian header length N, N bytes of JSON mapping each tensor name
/// to `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the data section),
/// then the data. Every offset and size is checked against the file before any read.
public final class SafeTensorsFile {
    public enum DType: String, Sendable {
        case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
        case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

        var byteSize: Int {
            switch self {
            case .f64, .i64: return 8
            case .f32, .i32: return 4
            case .f16, .bf16, .i16: return 2
            case .i8, .u8, .bool: return 1
            }
        }
    }

    public struct TensorInfo: Sendable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        /// Byte range in the data section.
        public let byteRange: Range<Int>
        public var elementCount: Int { shape.reduce(1, *) }
    }

    public let path: String
    public private(set) var tensors: [String: TensorInfo] = [:]
    public private(set) var metadata: [String: String] = [:]
    private let base: UnsafeMutableRawPointer?
    private let fileSize: Int
    private var dataStart = 0

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw ModelError.unreadable(path, String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ModelError.unreadable(path, String(cString: strerror(errno))) }
        fileSize = Int(info.st_size)
        if fileSize == 0 {
            base = nil
        } else {
            let mapped = mmap(nil, fileSize, PROT_READ, MAP_PRIVATE, fd, 0)
            guard let mapped, mapped != MAP_FAILED else { throw ModelError.unreadable(path, "mmap failed: \(String(cString: strerror(errno)))") }
            base = mapped
        }
        try parseHeader()
    }

    deinit {
        if let base { munmap(base, fileSize) }
    }

    private func fail(_ reason: String) -> ModelError { .invalidSafeTensors(path: path, reason: reason) }

    private func parseHeader() throws {
        guard let base, fileSize >= 8 else { throw fail("file is \(fileSize) bytes, shorter than the 8-byte header length") }
        let headerLength = UInt64(littleEndian: base.loadUnaligned(as: UInt64.self))
        guard headerLength <= UInt64(fileSize - 8) else {
            throw fail("header length \(headerLength) runs past the end of the \(fileSize)-byte file (truncated?)")
        }
        dataStart = 8 + Int(headerLength)
        let headerData = Data(bytes: base + 8, count: Int(headerLength))
        guard let json = (try? JSONSerialization.jsonObject(with: headerData)) as? [String: Any] else {
            throw fail("header is not a JSON object")
        }
        let dataSize = fileSize - dataStart
        for (name, value) in json {
            if name == "__metadata__" {
                metadata = (value as? [String: String]) ?? [:]
                continue
            }
            guard let entry = value as? [String: Any],
                  let dtypeName = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int],
                  let offsets = entry["data_offsets"] as? [Int], offsets.count == 2
            else { throw fail("tensor \(name): entry needs dtype, shape and two data_offsets") }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw fail("tensor \(name): unknown dtype \(dtypeName)")
            }
            guard shape.allSatisfy({ $0 >= 0 }) else { throw fail("tensor \(name): negative dimension in \(shape)") }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end, end <= dataSize else {
                throw fail("tensor \(name): data_offsets [\(begin), \(end)] outside the \(dataSize)-byte data section (truncated?)")
            }
            let expected = shape.reduce(1, *) * dtype.byteSize
            guard end - begin == expected else {
                throw fail("tensor \(name): \(end - begin) bytes for shape \(shape) of \(dtypeName), expected \(expected)")
            }
            tensors[name] = TensorInfo(name: name, dtype: dtype, shape: shape, byteRange: begin..<end)
        }
    }

    /// Copies tensor `name` into `destination` as float32, converting F64, F16 and BF16.
    /// Integer tensors (e.g. `position_ids` buffers) are listed but cannot be read as weights.
    public func read(_ name: String, into destination: UnsafeMutablePointer<Float>) throws {
        guard let info = tensors[name], let base else { throw fail("no tensor \(name)") }
        let source = UnsafeRawPointer(base) + dataStart + info.byteRange.lowerBound
        let count = info.elementCount
        switch info.dtype {
        case .f32:
            for i in 0..<count { destination[i] = Float(bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
        case .f16:
            for i in 0..<count {
                destination[i] = Float(Float16(bitPattern: UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))))
            }
        case .bf16:
            for i in 0..<count {
                let bits = UInt32(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16
                destination[i] = Float(bitPattern: bits)
            }
        case .f64:
            for i in 0..<count {
                destination[i] = Float(Double(bitPattern: UInt64(littleEndian: source.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
            }
        case .i64, .i32, .i16, .i8, .u8, .bool:
            throw fail("tensor \(name) has dtype \(info.dtype.rawValue); weights must be F32, F16, BF16 or F64")
        }
    }

    /// Tensor `name` as a float32 array.
    public func floats(_ name: String) throws -> [Float] {
        guard let info = tensors[name] else { throw fail("no tensor \(name)") }
        var out = [Float](repeating: 0, count: info.elementCount)
        try out.withUnsafeMutableBufferPointer { try read(name, into: $0.baseAddress!) }
        return out
    }
}

/// Writes float32 tensors as a safetensors file, atomically: the data goes to a temporary
/// file in the same directory which is renamed over `path` only once it is complete, so a
/// crash never leaves a half-written checkpoint where a whole one was.
public enum SafeTensorsWriter {
    public struct Tensor {
        public let name: String
        public let shape: [Int]
        public let values: UnsafeBufferPointer<Float>
        public init(name: String, shape: [Int], values: UnsafeBufferPointer<Float>) {
            self.name = name
            self.shape = shape
            self.values = values
        }
    }

    public static func write(_ tensors: [Tensor], metadata: [String: String] = [:], to path: String) throws {
        var header: [String: Any] = [:]
        var offset = 0
        let ordered = tensors.sorted { $0.name < $1.name }
        for t in ordered {
            precondition(t.shape.reduce(1, *) == t.values.count, "tensor \(t.name): shape \(t.shape) does not match \(t.values.count) values")
            header[t.name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + 4 * t.values.count]]
            offset += 4 * t.values.count
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var headerBytes = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // Pad with spaces so the data section starts 8-byte aligned, as the format recommends.
        while (8 + headerBytes.count) % 8 != 0 { headerBytes.append(0x20) }

        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
        do {
            guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
                throw ModelError.unreadable(temporary.path, "cannot create: \(String(cString: strerror(errno)))")
            }
            let handle = try FileHandle(forWritingTo: temporary)
            defer { try? handle.close() }
            var prefix = Data()
            withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { prefix.append(contentsOf: $0) }
            handle.write(prefix + headerBytes)
            // Streamed tensor by tensor: float32 is stored little-endian, as the host holds it.
            precondition(UInt32(1).littleEndian == 1, "safetensors writing assumes a little-endian host")
            for t in ordered where !t.values.isEmpty {
                handle.write(Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: t.values.baseAddress!), count: 4 * t.values.count, deallocator: .none))
            }
            // On disk before the rename makes it visible: a crash leaves the old file or the new one.
            try handle.synchronize()
            guard rename(temporary.path, path) == 0 else {
                throw ModelError.unreadable(path, "rename failed: \(String(cString: strerror(errno)))")
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }
}
