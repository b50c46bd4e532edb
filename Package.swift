// swift-tools-version:6.0
import PackageDescription

// Hot elementwise kernels are Swift SIMD. At the default x86-64 target `addProduct` and friends
// lower to scalar `fmaf` calls (10–100× slower), so the compute targets are built for AVX2+FMA.
// `-target-cpu x86-64-v3` is rejected by this toolchain; `haswell` is the same feature set.
#if arch(x86_64)
let simdFlags: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-mavx2", "-Xcc", "-mfma", "-target-cpu", "haswell"])]
#else
let simdFlags: [SwiftSetting] = []
#endif

let package = Package(
    name: "lpft",
    // macOS 15 for `Synchronization.Mutex`, the lock around every value threads share (issue
    // 32). Linux is the target; there the line changes nothing.
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "lpft", targets: ["lpft"]),
        // `lpft sweep serve` runs it: a product of its own, so the demo's build of `lpft` does
        // not compile an HTTP server and Prometheus (BENCHMARKS.md has the difference).
        .executable(name: "lpft-dashboard", targets: ["lpft-dashboard"]),
        .library(name: "Compute", targets: ["Compute"]),
        .library(name: "Transformer", targets: ["Transformer"]),
        .library(name: "TextData", targets: ["TextData"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "NTK", targets: ["NTK"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        // The dashboard's HTTP server: FlyingFox is async/await over BSD sockets, without
        // swift-nio (which Hummingbird would add to every first build). See BENCHMARKS.md.
        .package(url: "https://github.com/swhitty/FlyingFox", from: "0.27.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // The targets in the order data flows through them, one way (docs/architecture.md):
        //   spec → trials (Sweep) → coordinator ⇄ worker (Orchestrator, over Wire)
        //        → trial process (Training, on Transformer, TextData, NTK, Compute)
        //        → journal (Sweep) → reports (Reports, Dashboard).
        // The two halves meet only in TrialContract: the orchestrator never imports a tensor,
        // the training core never a socket. The programs come last; only they import Benchmarks.
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
        ),
        // libzmq's pkg-config file adds `-isystem /usr/include/mit-krb5`, which SwiftPM rejects
        // with a warning on every build; zmq.h and libzmq.so are on the default paths anyway.
        .systemLibrary(name: "CZeroMQ", providers: [.apt(["libzmq3-dev"])]),

        // What a trial process writes and a worker reads: directory layout, event lines, the
        // result schema and its metric names, the command line and exit codes, signal handling,
        // and which build this is (its git commit, stamped by the BuildStamp plugin). Depends on nothing.
        .target(name: "TrialContract", dependencies: ["JSONText"], plugins: ["BuildStamp"]),
        .plugin(name: "BuildStamp", capability: .buildTool()),
        // swift-log set up for the command line (text or JSON lines on stderr) and a throttle
        // for warnings a peer can provoke at will.
        .target(name: "Logs", dependencies: [.product(name: "Logging", package: "swift-log"), .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        // spec → trials → journal. The orchestrator knows nothing of tensors: a trial is a config
        // in, metrics out. Sweep: the spec, its trials and their identity, the journal, results.
        .target(name: "Config", dependencies: ["Yams"]),
        // Strict JSON read and written by hand: the wire's messages, and reading the journal's texts.
        .target(name: "JSONText"),
        .target(name: "Sweep", dependencies: ["Config", "TrialContract", "JSONText", .product(name: "Crypto", package: "swift-crypto"), .product(name: "GRDB", package: "GRDB.swift")]),

        // coordinator ⇄ worker.
        // Wire: what crosses between the coordinator and a worker, and nothing that acts on it:
        // ZeroMQ sockets, endpoints, CURVE keys, the messages and their JSON, the facts a
        // worker names in its HELLO, the heartbeat defaults both ends agree on, the steady clock.
        .target(name: "Wire", dependencies: ["Sweep", "JSONText", "CZeroMQ"]),
        // Orchestrator: the two socket-free state machines (Dispatcher, WorkerSession), the
        // programs that drive them with sockets and processes (Coordinator, Worker,
        // TrialExecution), and shipping pinned inputs to workers that lack them. The
        // coordinator alone writes the journal (Sweep); a worker reads its trials' directories
        // and events through TrialContract.
        .target(name: "Orchestrator", dependencies: ["Wire", "Sweep", "TrialContract", "Logs", "CZeroMQ", .product(name: "Logging", package: "swift-log"), .product(name: "Crypto", package: "swift-crypto")]),

        // trial process: the CPU fine-tuning core. Training runs a trial (`lpft train`) and
        // writes what TrialContract says.
        .target(name: "Compute", dependencies: ["CBLAS"], swiftSettings: simdFlags),
        .target(name: "Transformer", dependencies: ["Compute"], swiftSettings: simdFlags),
        .target(name: "TextData", dependencies: ["Compute", "TrialContract"]),
        .target(name: "NTK", dependencies: ["Transformer", "Compute"], swiftSettings: simdFlags),
        .target(name: "Training", dependencies: ["Transformer", "TextData", "NTK", "Compute", "Config", "TrialContract"], swiftSettings: simdFlags),

        // journal → reports.
        // The paper's tables, claims and plots (CSV, JSONL, HTML with SVG) from a sweep's results.
        .target(name: "Reports", dependencies: ["Sweep", "TrialContract"]),
        // `lpft sweep serve`: a read-only web dashboard and Prometheus text over a journal.
        .target(name: "Dashboard", dependencies: ["Sweep", "Reports", "Logs", "TrialContract", .product(name: "Logging", package: "swift-log"), .product(name: "FlyingFox", package: "FlyingFox"),
                                                  .product(name: "FlyingSocks", package: "FlyingFox"),
                                                  .product(name: "Prometheus", package: "swift-prometheus")]),

        // The programs.
        // SweepApp: running a sweep from the command line: `sweep run` (journal seeding, local
        // keys and workers, progress, the dashboard process), `sweep status`, `sweep drain`.
        .target(name: "SweepApp", dependencies: ["Orchestrator", "Wire", "Sweep", "TrialContract", "Logs", .product(name: "Logging", package: "swift-log")]),
        // Benchmarks: `lpft bench`, every measurement and the 1,000-worker simulation (the real
        // Dispatcher, WorkerSession and journal on a virtual clock). Only the command line and
        // its tests import it, so no library carries measuring code.
        .target(name: "Benchmarks", dependencies: ["Orchestrator", "SweepApp", "Wire", "Sweep", "Training", "NTK", "TextData", "Transformer", "Compute", "Config", "TrialContract",
                                                   .product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "Logging", package: "swift-log")],
                swiftSettings: simdFlags),
        .executableTarget(
            name: "lpft",
            dependencies: [
                "Training", "Sweep", "Wire", "Orchestrator", "SweepApp", "Benchmarks", "Reports", "Logs", "NTK", "TextData", "Transformer", "Compute", "TrialContract",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // `lpft sweep serve` runs it, so `lpft`'s build has no HTTP server.
        .executableTarget(
            name: "lpft-dashboard",
            dependencies: ["Dashboard", "Logs", "TrialContract", .product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "Logging", package: "swift-log")]
        ),

        // One test target per source target; LPFTTests runs the built `lpft` as a user would.
        .target(name: "TestSupport", dependencies: ["TextData", "Logs", .product(name: "Logging", package: "swift-log")], path: "Tests/TestSupport"),
        .testTarget(name: "ComputeTests", dependencies: ["Compute", "CZeroMQ", "TestSupport"], swiftSettings: simdFlags),
        .testTarget(name: "TransformerTests", dependencies: ["Transformer", "Compute", "TestSupport"]),
        .testTarget(name: "ConfigTests", dependencies: ["Config"]),
        .testTarget(name: "TextDataTests", dependencies: ["TextData", "TestSupport", "TrialContract"]),
        .testTarget(name: "NTKTests", dependencies: ["NTK", "Transformer", "Compute", "TestSupport"]),
        .testTarget(name: "LogsTests", dependencies: ["Logs", "TestSupport", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "DashboardTests", dependencies: ["Dashboard", "Sweep", "Logs", "TestSupport"]),
        .testTarget(name: "TrialContractTests", dependencies: ["TrialContract", "Training"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Transformer", "TextData", "Compute", "TrialContract", "TestSupport"]),
        .testTarget(name: "SweepTests", dependencies: ["Sweep", "Config", "TestSupport", "TrialContract", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "WireTests", dependencies: ["Wire", "Sweep", "JSONText", "TestSupport"]),
        .testTarget(name: "OrchestratorTests", dependencies: ["Orchestrator", "Wire", "SweepApp", "Sweep", "Logs", "TestSupport", "TrialContract", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "SweepAppTests", dependencies: ["SweepApp", "Orchestrator", "Wire", "Sweep", "TestSupport", "TrialContract"]),
        .testTarget(name: "BenchmarksTests", dependencies: ["Benchmarks", "Orchestrator", "Sweep", "TestSupport"]),
        .testTarget(name: "ReportsTests", dependencies: ["Reports", "Sweep", "TestSupport"]),
        .testTarget(name: "LPFTTests", dependencies: ["Sweep", "Training", "TestSupport", "TrialContract"]),
    ],
    swiftLanguageModes: [.v6]
)
