import Foundation

/// User plus system time this process has used, in seconds.
///
/// A trial runs in its own process, so at its end this is the trial's CPU time: wall time alone
/// hides how much of a shared machine a method needs.
public func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) * 1e-6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}
