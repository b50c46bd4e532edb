import Prometheus
import Sweep

/// The sweep as Prometheus text (`/metrics`), made afresh from the journal on each scrape:
/// the journal is the only state, so a dashboard started late or restarted reports the same.
enum SweepMetricsText {
    /// Upper bounds of the dispatch-latency buckets, in seconds.
    static let latencyBuckets = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120]

    static func render(_ o: SweepOverview) -> String {
        let registry = PrometheusCollectorRegistry()
        func name(_ base: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "lpft", metricName: base, unitName: unit, helpText: help)
        }
        let trials = name("trials", "", "Trials of the sweep by state.")
        for state in TrialState.allCases {
            registry.makeGauge(descriptor: trials, labels: [("state", state.rawValue)]).set(Double(o.trials[state] ?? 0))
        }
        registry.makeGauge(descriptor: name("workers", "connected", "Workers that joined since the coordinator last started and were not lost since."))
            .set(Double(o.workers.filter(\.connected).count))
        let attempts = name("attempts", "total", "Attempts by how they ended (running: not yet).")
        for outcome in AttemptState.allCases {
            registry.makeCounter(descriptor: attempts, labels: [("outcome", outcome.rawValue)]).increment(by: Int64(o.attempts[outcome] ?? 0))
        }
        registry.makeCounter(descriptor: name("metric_rows_ingested", "total", "Streamed metric rows stored in the journal.")).increment(by: Int64(o.metricRows))
        registry.makeCounter(descriptor: name("handshakes_rejected", "total", "CURVE handshakes the coordinator refused.")).increment(by: Int64(o.rejectedHandshakes))
        let latency = registry.makeValueHistogram(descriptor: name("dispatch_latency", "seconds", "From a worker's attempt ending to its next attempt starting, as journaled."),
                                                  buckets: latencyBuckets)
        o.dispatchLatencies.forEach { latency.record($0) }
        if let eta = o.etaSeconds {
            registry.makeGauge(descriptor: name("eta", "seconds", "Estimated seconds until every trial is settled.")).set(eta)
        }
        return registry.emitToString()
    }
}
