import QVGraph
@testable import QVIO
import XCTest

final class RawCodecTests: XCTestCase {
    func testInt4PacksLowNibbleFirstAndSignExtendsEveryValue() throws {
        let values: [Int32] = Array(-8...7)
        let t = Tensor(values, shape: [16], dtype: .int4)
        let raw = RawCodec.encode(t)
        XCTAssertEqual(raw.count, 8)
        XCTAssertEqual(raw[0], 0x98)  // -8 = 0x8 low, -7 = 0x9 high
        XCTAssertEqual(try RawCodec.decode(raw, dtype: .int4, count: 16), .i32(values))
    }

    func testOddCountUint4LeavesTheLastHighNibbleZero() throws {
        let t = Tensor([Int32](arrayLiteral: 1, 2, 15), shape: [3], dtype: .uint4)
        XCTAssertEqual(RawCodec.encode(t), [0x21, 0x0F])
        XCTAssertEqual(try RawCodec.decode([0x21, 0x0F], dtype: .uint4, count: 3), .i32([1, 2, 15]))
    }

    func testEveryInt8AndUint8ByteRoundTrips() throws {
        let bytes = (0...255).map { UInt8($0) }
        guard case .i32(let s) = try RawCodec.decode(bytes, dtype: .int8, count: 256) else { return XCTFail() }
        XCTAssertEqual(s[255], -1)
        XCTAssertEqual(s[128], -128)
        XCTAssertEqual(RawCodec.encode(Tensor(s, shape: [256], dtype: .int8)), bytes)
        guard case .i32(let u) = try RawCodec.decode(bytes, dtype: .uint8, count: 256) else { return XCTFail() }
        XCTAssertEqual(u[255], 255)
    }

    func testWrongByteCountIsRefusedNotReadPastTheEnd() {
        XCTAssertThrowsError(try RawCodec.decode([0, 0, 0], dtype: .float, count: 1))
    }

    func testBoolBytesOtherThanZeroAndOneAreRefused() {
        XCTAssertThrowsError(try RawCodec.decode([0, 2], dtype: .bool, count: 2))
    }
}
