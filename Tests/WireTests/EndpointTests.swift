import Wire
import XCTest

final class EndpointTests: XCTestCase {
    func testEndpointsAreCheckedAndTrafficOffThisMachineIsNotLocal() throws {
        XCTAssertTrue(try Endpoint("tcp://127.0.0.1:5750").isLocal)
        XCTAssertTrue(try Endpoint("tcp://[::1]:5750").isLocal)
        XCTAssertTrue(try Endpoint("ipc:///tmp/c.ipc").isLocal)
        XCTAssertFalse(try Endpoint("tcp://0.0.0.0:5750").isLocal)
        for bad in ["tcp://:5750", "tcp://host", "tcp://host:0", "tcp://[::1]5750", "ipc://", "http://host:80"] {
            XCTAssertThrowsError(try Endpoint(bad), bad) { XCTAssertTrue("\($0)".contains("give tcp://HOST:PORT"), "\($0)") }
        }
    }

    /// The hint a coordinator prints names it so that a worker elsewhere can connect.
    func testAWildcardBindIsNamedByTheHostForWorkers() throws {
        XCTAssertEqual(try Endpoint("tcp://0.0.0.0:5750").connectable(hostName: "box-a"), "tcp://box-a:5750")
        XCTAssertEqual(try Endpoint("tcp://*:5750").connectable(hostName: "box-a"), "tcp://box-a:5750")
        XCTAssertEqual(try Endpoint("tcp://[::]:5750").connectable(hostName: "box-a"), "tcp://box-a:5750")
        for kept in ["tcp://10.0.0.5:5750", "tcp://127.0.0.1:5750", "ipc:///tmp/c.ipc"] {
            XCTAssertEqual(try Endpoint(kept).connectable(hostName: "box-a"), kept)
        }
    }
}
