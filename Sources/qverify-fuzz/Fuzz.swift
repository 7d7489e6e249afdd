import Foundation
import QVGraph
import QVIO

/// Coverage-guided fuzz targets for the readers of untrusted files (scripts/fuzz.sh builds this
/// with -sanitize=fuzzer,address and -D FUZZING; libFuzzer then drives `qvFuzzOneInput`). The
/// target is chosen by QVERIFY_FUZZ_TARGET: `onnx` (decode + validate + summary), `npy` (decode
/// and the streaming reader), `npz` (archive reader, and the streaming central-directory reader), `sf` (scaling-
/// factor/steps JSON). Every
/// input must end in a value or a QVError, never a trap, a leak or a bad access.
///
/// Without FUZZING it is a replay tool: `qverify-fuzz TARGET FILE…` runs each file once (the
/// committed corpus and every crash found are replayed this way by scripts/fuzz.sh --replay).
enum FuzzTarget: String {
    case onnx, npy, npz, sf

    static let scratch: String = {
        let dir = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        return (dir as NSString).appendingPathComponent("qverify-fuzz-\(getpid())")
    }()

    func run(_ bytes: [UInt8]) {
        do {
            switch self {
            case .onnx:
                let m = try OnnxFile.decode(bytes)
                try ModelValidator.validate(m)
                _ = try ModelSummary(m)
            case .npy:
                _ = try Npy.decode(bytes)
                try Data(bytes).write(to: URL(fileURLWithPath: Self.scratch + ".npy"))
                let r = try Npy.Reader(Self.scratch + ".npy")
                if let n = r.shape.first, n > 0 { _ = try r.slice(n - 1) }
            case .npz:
                try Data(bytes).write(to: URL(fileURLWithPath: Self.scratch + ".npz"))
                _ = try? Npy.loadArchive(Self.scratch + ".npz")
                // The streaming path: the central directory, then each stored member read in place.
                for m in try ZipDirectory(Self.scratch + ".npz").members where m.method == 0 {
                    let r = try Npy.Reader(Self.scratch + ".npz", offset: m.dataOffset, length: m.size)
                    if let n = r.shape.first, n > 0 { _ = try r.slice(n - 1) }
                }
            case .sf:
                try Data(bytes).write(to: URL(fileURLWithPath: Self.scratch + ".json"))
                _ = try ScalingFactorFile.load(Self.scratch + ".json")
                _ = try ScalingFactorFile.loadSteps(Self.scratch + ".json")
            }
        } catch is QVError {
            // Refused with a message: what bad input must get.
        } catch {
            // Foundation errors (a write to scratch) are not findings either.
        }
    }
}

extension FuzzTarget {
    /// The target libFuzzer drives (QVERIFY_FUZZ_TARGET, default onnx).
    static let selected =
        FuzzTarget(rawValue: ProcessInfo.processInfo.environment["QVERIFY_FUZZ_TARGET"] ?? "onnx") ?? .onnx
}

@_cdecl("LLVMFuzzerTestOneInput")
public func qvFuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    FuzzTarget.selected.run(bytes)
    return 0
}

#if FUZZING
// SwiftPM links an executable's entry point as <target>_main (main is an alias of it): hand it to
// libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

@_cdecl("qverify_fuzz_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var c = argc
    var v = argv
    return withUnsafeMutablePointer(to: &c) { cp in
        withUnsafeMutablePointer(to: &v) { vp in
            vp.withMemoryRebound(to: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?.self, capacity: 1) {
                LLVMFuzzerRunDriver(cp, $0, { data, size in qvFuzzOneInput(data, size) })
            }
        }
    }
}
#else
/// Replay: qverify-fuzz TARGET FILE… (with FUZZING, libFuzzer supplies main).
@main
struct Replay {
    static func main() {
        let args = Array(CommandLine.arguments.dropFirst())
        guard let name = args.first, let t = FuzzTarget(rawValue: name) else {
            FileHandle.standardError.write(Data("usage: qverify-fuzz onnx|npy|npz|sf FILE…\n".utf8))
            exit(2)
        }
        for path in args.dropFirst() {
            guard let d = FileManager.default.contents(atPath: path) else { continue }
            t.run(Array(d))
        }
        print("replayed \(args.count - 1) input(s) for \(name): no crash")
    }
}
#endif
